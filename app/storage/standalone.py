"""The storage folder opened by a command instead of the server (`vigil export`, `vigil purge`):
the same store, journal and frame store the server runs, under the same master keys, so sealed
data is read and erased exactly as the server reads and erases it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from actors.ports import EventEntry
from app.settings import Settings
from app.storage.frames import FrameStore, clip_store
from app.storage.journal import SqliteJournal
from app.storage.schema import database_path
from app.storage.screen_chunks import ScreenChunks
from app.storage.sealing.data_keys import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE,
    MASTER_KEY_FILE_ENV,
    DataKeys,
    KeyConfigError,
    MasterKeys,
)
from app.storage.sealing.keystore import keystore_path
from app.storage.store import SqliteStore
from app.telemetry.metrics import Metrics


class StorageError(Exception):
    """The storage folder cannot be opened as asked; the message says why and what to do."""


class NoLiveSessions:
    """A command's process holds no live session: nothing to stop before an erasure."""

    async def forget(self, session_id: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class OfflineStorage:
    """What `app.storage.retention` needs to erase (its `Erasing`), without a server."""

    settings: Settings
    store: SqliteStore
    journal: SqliteJournal
    frames: FrameStore
    registry: NoLiveSessions = field(default_factory=NoLiveSessions)
    clips: FrameStore | None = None
    screen: ScreenChunks | None = None


def existing_database(settings: Settings) -> Path:
    path = database_path(settings.storage_dir)
    if not path.is_file():
        raise StorageError(
            f"no database at {path}: expected the storage folder of a Vigil server "
            "([storage] dir; give --config FILE or VIGIL_STORAGE_DIR)"
        )
    return path


def master_keys(settings: Settings, environ: Mapping[str, str]) -> MasterKeys:
    """The server's master keys. Unlike the server, never generates one: a command that found
    none would only make a key that opens nothing."""
    kept = settings.storage_dir / MASTER_KEY_FILE
    try:
        if MasterKeys.configured(environ) is None and not kept.exists():
            raise StorageError(
                f"neither {MASTER_KEY_ENV} nor {MASTER_KEY_FILE_ENV} is set and {kept} does not "
                f"exist: set {MASTER_KEY_ENV} to the master key the server runs with"
            )
        return MasterKeys.from_environment(environ, settings.storage_dir)[0]
    except KeyConfigError as exc:
        raise StorageError(str(exc)) from None


@asynccontextmanager
async def reading(settings: Settings, environ: Mapping[str, str]) -> AsyncIterator[SqliteStore]:
    """The store, read-only in effect: safe beside a running server (WAL)."""
    path = existing_database(settings)
    keys = DataKeys(master_keys(settings, environ))
    store = await SqliteStore.open(path, keystore_path(settings.storage_dir), keys)
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


@asynccontextmanager
async def writing(settings: Settings, environ: Mapping[str, str]) -> AsyncIterator[OfflineStorage]:
    """The journal (the only writer), the store and the frame store, started as the server
    starts them and closed in the same order: frames, then the journal, then the store."""
    path = existing_database(settings)
    storage = settings.storage_dir
    keys = DataKeys(master_keys(settings, environ))
    journal = SqliteJournal(
        path,
        keystore=keystore_path(storage),
        keys=keys,
        synchronous=settings.storage.synchronous,
        queue_size=settings.storage.journal_queue_size,
        max_batch=settings.storage.journal_max_batch,
        commit_interval=settings.storage.commit_interval_ms / 1000,
        cache_mb=settings.storage.cache_mb,
        on_committed=_nobody_waits,
        metrics=Metrics(),
    )
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        store = await SqliteStore.open(path, keystore_path(storage), keys)
        frames = FrameStore(storage / "frames", settings.vision.keep_frames, store.cipher)
        await tg.start(frames.run)
        clips = clip_store(storage, store.cipher)
        await tg.start(clips.run)
        try:
            screen = ScreenChunks(storage / "screen", store.cipher, 0, 0)  # erasure only
            yield OfflineStorage(
                settings=settings,
                store=store,
                journal=journal,
                frames=frames,
                clips=clips,
                screen=screen,
            )
        finally:
            with anyio.CancelScope(shield=True):
                await frames.drain()
                await clips.drain()
                await journal.close()
                await store.close()
            tg.cancel_scope.cancel()


def server_answers(settings: Settings, timeout: float = 0.5) -> bool:
    """Whether something accepts connections where this config's server would listen."""
    host = settings.server.host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, settings.server.port), timeout=timeout):
            return True
    except OSError:
        return False


def _nobody_waits(entries: list[EventEntry]) -> None:
    """A command appends no candidate events: no ack or admin waits for a commit."""
