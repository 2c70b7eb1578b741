"""Webcam frames kept as evidence (document 002's ProctorAssets): `<storage>/frames/<session>/
<offset>.jpg`, where offset is that of the frame's `frame_analyzed` event.

One writer task owns the folder: writes and erasures go through one bounded queue, in order, so
an erasure can never be followed by a late write of the erased session's frame. A full queue
drops the frame and counts it: a frame is never acknowledged to anyone, so a drop loses no
acknowledged data, and the event loop never waits on the disk."""

from __future__ import annotations

import os
import re
import shutil
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import anyio

from actors.mailbox import Doorbell

KeepPolicy = Literal["flagged", "all", "none"]
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


@dataclass(frozen=True, slots=True)
class _Write:
    session_id: str
    offset: int
    jpeg: bytes


@dataclass(slots=True)
class _Erase:
    session_id: str
    done: anyio.Event = field(default_factory=anyio.Event)


class FrameStore:
    def __init__(self, root: Path, policy: KeepPolicy, queue_size: int = 256) -> None:
        self.root = root
        self.policy = policy
        self.queue_size = queue_size
        self._queue: deque[_Write | _Erase] = deque()
        self._doorbell = Doorbell()
        self.kept_total = 0
        self.dropped_total = 0

    # --- the session actors' side (FrameKeeper) ------------------------------------------------

    def keep(self, session_id: str, frame_offset: int, jpeg: bytes, flagged: bool) -> None:
        if self.policy == "none" or (self.policy == "flagged" and not flagged):
            return
        if len(self._queue) >= self.queue_size or not _SAFE_ID.match(session_id):
            self.dropped_total += 1
            return
        self._queue.append(_Write(session_id, frame_offset, jpeg))
        self._doorbell.ring()

    # --- readers -------------------------------------------------------------------------------

    def path(self, session_id: str, offset: int) -> Path | None:
        """The kept frame's file, if there is one."""
        if not _SAFE_ID.match(session_id):
            return None
        found = self.root / session_id / f"{offset}.jpg"
        return found if found.is_file() else None

    def kept(self, session_id: str) -> set[int]:
        """The offsets of the frames kept for a session."""
        folder = self.root / session_id
        if not _SAFE_ID.match(session_id) or not folder.is_dir():
            return set()
        return {int(p.stem) for p in folder.glob("*.jpg") if p.stem.isdigit()}

    async def erase(self, session_id: str) -> None:
        """Delete every frame of a session, after any write already queued for it."""
        erase = _Erase(session_id)
        self._queue.append(erase)
        self._doorbell.ring()
        await erase.done.wait()

    # --- the writer ----------------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            while not self._queue:
                await self._doorbell.wait()
            await self._next()

    async def drain(self) -> None:
        """Write what is queued (at shutdown, before the storage closes)."""
        while self._queue:
            await self._next()

    async def _next(self) -> None:
        item = self._queue.popleft()
        if isinstance(item, _Erase):
            if _SAFE_ID.match(item.session_id):
                await anyio.to_thread.run_sync(shutil.rmtree, self.root / item.session_id, True)
            item.done.set()
            return
        await anyio.to_thread.run_sync(self._write, item)
        self.kept_total += 1

    def _write(self, item: _Write) -> None:
        folder = self.root / item.session_id
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{item.offset}.jpg"
        partial = folder / f".{item.offset}.jpg.partial"
        with partial.open("wb") as out:
            out.write(item.jpeg)
            out.flush()
            os.fsync(out.fileno())  # evidence: on disk before it is named
        partial.replace(final)
