"""Webcam frames kept as evidence (document 002's ProctorAssets): `<storage>/frames/<session>/
<offset>.frame`, where offset is that of the frame's `frame_analyzed` event. Each file is the
JPEG sealed with its session's data key (app/storage/sealing/data_keys.py): erasing the session's key makes
every copy of it unreadable. Plain `<offset>.jpg` files (kept before frames were sealed) are
sealed when the store starts.

One writer task owns the folder: writes and erasures go through one bounded queue, in order, so
an erasure can never be followed by a late write of the erased session's frame. A full queue
drops the frame and counts it: a frame is never acknowledged to anyone, so a drop loses no
acknowledged data, and the event loop never waits on the disk."""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import anyio

from actors.mailbox import Doorbell
from app.storage.sealing.data_keys import SessionCipher
from app.storage.sealing.rows import open_frame, seal_frame

log = logging.getLogger("vigil.frames")

KeepPolicy = Literal["flagged", "all", "none"]
_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_SUFFIX: Final = ".frame"
_SEALED_MARKER: Final = ".sealed"  # every plain .jpg of an earlier version has been sealed
CipherLookup = Callable[[str], Awaitable[SessionCipher | None]]


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
    def __init__(
        self, root: Path, policy: KeepPolicy, cipher_for: CipherLookup, queue_size: int = 256
    ) -> None:
        self.root = root
        self._cipher_for = cipher_for
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

    async def read(self, session_id: str, offset: int) -> bytes | None:
        """The kept frame's JPEG, if there is one (and its session still has its key)."""
        if not _SAFE_ID.match(session_id):
            return None
        try:
            sealed = await anyio.Path(self.root / session_id / f"{offset}{_SUFFIX}").read_bytes()
        except FileNotFoundError:
            return None
        cipher = await self._cipher_for(session_id)
        return None if cipher is None else open_frame(cipher, offset, sealed)

    def kept(self, session_id: str) -> set[int]:
        """The offsets of the frames kept for a session."""
        folder = self.root / session_id
        if not _SAFE_ID.match(session_id) or not folder.is_dir():
            return set()
        return {
            int(p.name.removesuffix(_SUFFIX))
            for p in folder.glob(f"*{_SUFFIX}")
            if p.name.removesuffix(_SUFFIX).isdigit()
        }

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
        await self.seal_plain_frames()
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
        cipher = await self._cipher_for(item.session_id)
        if cipher is None:  # erased since the frame was queued
            self.dropped_total += 1
            return
        sealed = seal_frame(cipher, item.offset, item.jpeg)
        await anyio.to_thread.run_sync(_write, self.root / item.session_id, item.offset, sealed)
        self.kept_total += 1

    async def seal_plain_frames(self) -> None:
        """Seal the plain JPEGs an earlier version kept; delete those whose session is gone.
        Once per folder: a marker file says it was done, so a start does not walk every
        session's folder again."""
        marker = self.root / _SEALED_MARKER
        if marker.exists():
            return
        if not self.root.is_dir():
            await anyio.Path(self.root).mkdir(parents=True, exist_ok=True)
            await anyio.Path(marker).touch()
            return
        sealed = 0
        for folder in sorted(self.root.iterdir()):
            plain = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
            if not plain:
                continue
            cipher = await self._cipher_for(folder.name) if _SAFE_ID.match(folder.name) else None
            for path in plain:
                if cipher is not None and path.stem.isdigit():
                    jpeg = await anyio.Path(path).read_bytes()
                    offset = int(path.stem)
                    await anyio.to_thread.run_sync(
                        _write, folder, offset, seal_frame(cipher, offset, jpeg)
                    )
                    sealed += 1
                await anyio.Path(path).unlink()
        await anyio.Path(marker).touch()
        if sealed:
            log.warning("frames: sealed %d plain frames kept by an earlier version", sealed)


def _write(folder: Path, offset: int, sealed: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{offset}{_SUFFIX}"
    partial = folder / f".{offset}{_SUFFIX}.partial"
    with partial.open("wb") as out:
        out.write(sealed)
        out.flush()
        os.fsync(out.fileno())  # evidence: on disk before it is named
    partial.replace(final)


def clip_store(storage: Path, cipher_for: CipherLookup) -> FrameStore:
    """Issue 24: audio episodes' clips (app/audio/clips.py), kept like frames in a folder of
    their own, every clip handed over kept (only episodes make them)."""
    return FrameStore(storage / "audio-clips", "all", cipher_for)
