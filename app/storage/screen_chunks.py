"""Screen recordings (issue 24): each session's MediaRecorder chunks, numbered from 0, stored once
each under `<storage>/screen/<session>/<n>.chunk`, sealed with the session's data key (erasing
the key makes every copy unreadable), with a plain `manifest.json` of sizes, digests and the
server's times. One lock per session orders its writes and its erasure, so an erased session
never gets a late chunk. A chunk is on disk (fsync) before it is acknowledged.

Chunks of one MediaRecorder are one WebM stream cut in pieces: their concatenation in order is
the video, which `read` serves by byte range."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio

from actors.protocol_codes import CHUNK_CONFLICT, CHUNK_OUT_OF_ORDER, QUOTA_EXCEEDED, WRONG_TYPE
from app.storage.sealing.data_keys import SessionCipher

_SAFE_ID: Final = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_EMPTY: Final = hashlib.sha256(b"").hexdigest()
CipherLookup = Callable[[str], Awaitable[SessionCipher | None]]


class ChunkRefused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(slots=True)
class Manifest:
    format: str
    sizes: list[int] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    first: str = ""  # the server's time of the first chunk
    last: str = ""  # and of the newest
    full: bool = False  # the quota was reached: no more chunks are taken
    thumbnail: bool = False  # thumbnail.jpg is kept

    @property
    def total(self) -> int:
        return sum(self.sizes)


class ScreenChunks:
    def __init__(self, root: Path, cipher_for: CipherLookup, quota_bytes: int, max_chunk: int):
        self.root = root
        self._cipher_for = cipher_for
        self.quota_bytes = quota_bytes
        self.max_chunk = max_chunk
        self._locks: dict[str, anyio.Lock] = {}

    async def put(self, session_id: str, n: int, data: bytes, media_type: str, now: str) -> bool:
        """Store chunk `n`; True if stored now, False if it was already (the same bytes) or is
        empty (MediaRecorder can hand out an empty blob: nothing to keep, nothing refused)."""
        if len(data) > self.max_chunk:
            raise ChunkRefused(
                413, "too_large", f"chunk is {len(data)} bytes; the limit is {self.max_chunk}"
            )
        async with self._lock(session_id):
            manifest = await self.manifest(session_id) or Manifest(format=media_type)
            digest = hashlib.sha256(data).hexdigest()
            _check(manifest, n, digest, media_type)
            if n < len(manifest.sizes) or not data:
                return False
            if manifest.full or manifest.total + len(data) > self.quota_bytes:
                manifest.full = True
                await anyio.to_thread.run_sync(_write_manifest, self._folder(session_id), manifest)
                raise ChunkRefused(
                    507, QUOTA_EXCEEDED, f"the session's screen recording reached its quota of "
                    f"{self.quota_bytes} bytes ([screen] quota_mb); recording stops, the exam goes on",
                )  # fmt: skip
            cipher = await self._cipher_for(session_id)
            if cipher is None:
                raise ChunkRefused(404, "not_found", f"no session with id {session_id!r}")
            sealed = cipher.seal(f"screen:{n}", data)
            manifest.sizes.append(len(data))
            manifest.digests.append(digest)
            manifest.first = manifest.first or now
            manifest.last = now
            await anyio.to_thread.run_sync(
                _write_chunk, self._folder(session_id), n, sealed, manifest
            )
            return True

    async def manifest(self, session_id: str) -> Manifest | None:
        path = self._folder(session_id) / "manifest.json"
        try:
            raw: dict[str, Any] = json.loads(await anyio.Path(path).read_text())
        except FileNotFoundError:
            return None
        return Manifest(**raw)

    async def read(self, session_id: str, start: int, end: int) -> bytes:
        """Bytes [start, end] (inclusive) of the recording."""
        manifest = await self.manifest(session_id)
        cipher = await self._cipher_for(session_id)
        if manifest is None or cipher is None:
            return b""
        out, position = [], 0
        for n, size in enumerate(manifest.sizes):
            if position + size > start and position <= end:
                sealed = await anyio.Path(self._folder(session_id) / f"{n}.chunk").read_bytes()
                plain = cipher.open(f"screen:{n}", sealed)
                out.append(plain[max(0, start - position) : end - position + 1])
            position += size
            if position > end:
                break
        return b"".join(out)

    async def put_thumbnail(self, session_id: str, jpeg: bytes) -> None:
        async with self._lock(session_id):
            manifest = await self.manifest(session_id)
            cipher = await self._cipher_for(session_id)
            if manifest is None or cipher is None:
                return  # erased meanwhile
            manifest.thumbnail = True
            folder = self._folder(session_id)
            sealed = cipher.seal("screen:thumbnail", jpeg)
            await anyio.to_thread.run_sync(_write_thumbnail, folder, sealed, manifest)

    async def thumbnail(self, session_id: str) -> bytes | None:
        manifest = await self.manifest(session_id)
        cipher = await self._cipher_for(session_id)
        if manifest is None or not manifest.thumbnail or cipher is None:
            return None
        sealed = await anyio.Path(self._folder(session_id) / "thumbnail.jpg").read_bytes()
        return cipher.open("screen:thumbnail", sealed)

    async def erase(self, session_id: str) -> None:
        async with self._lock(session_id):
            if _SAFE_ID.match(session_id):
                await anyio.to_thread.run_sync(shutil.rmtree, self.root / session_id, True)
        self._locks.pop(session_id, None)

    def _folder(self, session_id: str) -> Path:
        if not _SAFE_ID.match(session_id):
            raise ChunkRefused(404, "not_found", f"no session with id {session_id!r}")
        return self.root / session_id

    def _lock(self, session_id: str) -> anyio.Lock:
        return self._locks.setdefault(session_id, anyio.Lock())


def _check(manifest: Manifest, n: int, digest: str, media_type: str) -> None:
    if media_type != manifest.format:
        raise ChunkRefused(
            415, WRONG_TYPE, f"chunk is {media_type!r}; this recording is {manifest.format!r}",
            "content-type",
        )  # fmt: skip
    stored = len(manifest.sizes)
    if n < stored and manifest.digests[n] != digest and digest != _EMPTY:
        raise ChunkRefused(
            409, CHUNK_CONFLICT, f"chunk {n} is already stored with other bytes; send chunk "
            f"{stored} next", "n",
        )  # fmt: skip
    if n > stored:
        raise ChunkRefused(
            409, CHUNK_OUT_OF_ORDER, f"chunk {n} skips ahead; expected chunk {stored}", "n"
        )


def _write_chunk(folder: Path, n: int, sealed: bytes, manifest: Manifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _durable(folder / f"{n}.chunk", sealed)
    _write_manifest(folder, manifest)


def _write_thumbnail(folder: Path, sealed: bytes, manifest: Manifest) -> None:
    _durable(folder / "thumbnail.jpg", sealed)
    _write_manifest(folder, manifest)


def _write_manifest(folder: Path, manifest: Manifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    keys = ("format", "sizes", "digests", "first", "last", "full", "thumbnail")
    raw = {k: getattr(manifest, k) for k in keys}
    _durable(folder / "manifest.json", json.dumps(raw).encode())


def _durable(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
