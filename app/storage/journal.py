"""The journal: the one writer of the SQLite database, committing many operations per
transaction (group commit). Everything it is handed is durable once it is answered: acks and
admin fan-out happen after the commit, never before.

This module is the writer alone: the queue, the batches, the transaction and when it syncs. What
each operation writes is owned by its module, through `app/storage/transaction.py`'s `Step`."""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import anyio
import msgspec
from anyio.abc import TaskStatus

from actors.events import iso_ms
from actors.mailbox import Mailbox
from actors.ports import BiometricsEntry, EventEntry, RequestMark, SnapshotEntry, StateEntry
from app.storage.audit import AppendAudit, AuditRow, AuditStep
from app.storage.biometric_rows import BiometricsStep
from app.storage.checkpoints import Checkpointer, checkpoint
from app.storage.creation import (
    AssessmentsStep,
    CreateAssessment,
    CreateSession,
    SessionRow,
    SessionsStep,
)
from app.storage.erasure import EraseSession, ErasureStep
from app.storage.event_rows import EventsStep, SnapshotsStep
from app.storage.request_rows import forget_old_requests, forget_old_requests_forever
from app.storage.schema import open_database
from app.storage.sealing.data_keys import DataKeys, MasterKeys
from app.storage.sealing.keyring import KeyRing
from app.storage.sealing.migration import seal_plaintext_database
from app.storage.state_rows import DisconnectStates, DisconnectStep, StatesStep
from app.storage.transaction import Step, Transaction, Writes
from app.telemetry.metrics import Metrics

__all__ = ["JournalClosed", "SessionRow", "SqliteJournal"]

log = logging.getLogger("vigil.journal")


class Barrier(msgspec.Struct, frozen=True):
    done: anyio.Event


class _BarrierStep(Writes):
    """Runs last, so a flush returns once everything queued before it is committed."""

    kinds = (Barrier,)

    def write(self, tx: Transaction, ops: list[Barrier]) -> None:
        return None


Operation = (
    EventEntry
    | BiometricsEntry
    | SnapshotEntry
    | StateEntry
    | CreateSession
    | CreateAssessment
    | Barrier
    | EraseSession
    | AppendAudit
    | DisconnectStates
)


class _Awaited(Protocol):
    @property
    def done(self) -> anyio.Event: ...


class JournalClosed(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the journal is closed: the server is shutting down")


class SqliteJournal:
    def __init__(
        self,
        path: Path,
        *,
        keystore: Path,
        keys: DataKeys,
        synchronous: str,
        queue_size: int,
        max_batch: int,
        on_committed: Callable[[list[EventEntry]], None],
        metrics: Metrics,
        commit_interval: float = 0.0,
        cache_mb: int = 64,
        checkpoint_interval: float = 0.1,
        wal_restart_pages: int = 4096,
    ) -> None:
        self._path = path
        self._keys = keys
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._commit_interval = commit_interval
        self._cache_mb = cache_mb
        self._metrics = metrics
        # Overflow policy: producers wait for room (back-pressure up to the candidate's TCP).
        self._queue: Mailbox[Operation] = Mailbox(queue_size)
        # The connections have one user at a time: the writer, or a thread it lends them to.
        self._thread = anyio.CapacityLimiter(1)
        self._conn: sqlite3.Connection | None = None
        self._keyring = KeyRing(keystore, keys, self._thread)
        self._checkpointer = Checkpointer(path, checkpoint_interval, wal_restart_pages)
        self._finished = anyio.Event()
        # In this order in every transaction: a session's row before its events, its events
        # before its state; the barrier last.
        self._steps: tuple[Step, ...] = (
            SessionsStep(),
            EventsStep(on_committed, metrics),
            StatesStep(),
            AssessmentsStep(),
            SnapshotsStep(),
            BiometricsStep(),
            ErasureStep(lambda: self._conn, self._thread),
            AuditStep(),
            DisconnectStep(),
            _BarrierStep(),
        )

    # --- the port actors use -------------------------------------------------------------------

    async def append(
        self, entry: EventEntry | SnapshotEntry | StateEntry | BiometricsEntry
    ) -> None:
        await self._put(entry)

    async def flush(self) -> None:
        await self._until_committed(Barrier(anyio.Event()))

    # --- what the server asks for, each owned by its module --------------------------------------

    async def erase_session(self, session_id: str) -> None:
        """Delete the session and everything stored for it, and leave no copy in the WAL.
        The caller has stopped its actor, so nothing of it is queued behind this."""
        await self._until_committed(EraseSession(session_id, anyio.Event()))

    async def create_session(
        self, row: SessionRow, request: RequestMark | None = None, response: bytes | None = None
    ) -> None:
        await self._until_committed(CreateSession(row, anyio.Event(), request, response))

    async def create_assessment(
        self, assessment_id: str, definition: bytes, created_at: str, request: RequestMark | None
    ) -> bool:
        """Store an assessment; False (and nothing stored) if its id is taken."""
        operation = CreateAssessment(assessment_id, definition, created_at, anyio.Event(), request)
        await self._until_committed(operation)
        return operation.created

    async def audit(self, row: AuditRow) -> None:
        """Append to the audit log; returns once committed, so what is audited is on disk
        before the answer it describes leaves."""
        await self._until_committed(AppendAudit(row, anyio.Event()))

    async def disconnect_stored_states(self) -> list[str]:
        """Mark every stored state disconnected (call before any actor runs; only after a crash
        does one say connected); the unsubmitted sessions that did, whose candidates were lost."""
        operation = DisconnectStates(anyio.Event())
        await self._until_committed(operation)
        return operation.lost

    async def use_master_keys(self, master: MasterKeys) -> None:
        await self._keyring.use_master_keys(master)

    @property
    def keys_under_retired_master(self) -> int:
        return self._keyring.under_retired_master

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def _put(self, operation: Operation) -> None:
        try:
            await self._queue.put(operation)
        except anyio.ClosedResourceError:
            raise JournalClosed() from None

    async def _until_committed(self, operation: Any) -> None:
        awaited: _Awaited = operation
        await self._put(operation)
        await awaited.done.wait()

    # --- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._conn = await anyio.to_thread.run_sync(self._open)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._checkpointer.run_forever)
                tg.start_soon(forget_old_requests_forever, self._conn, self._thread)
                tg.start_soon(self._keyring.rewrap_forever)
                task_status.started()
                await self._write_until_closed()
                tg.cancel_scope.cancel()
            await anyio.to_thread.run_sync(checkpoint, self._conn, "TRUNCATE", limiter=self._thread)
        finally:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            self._keyring.close()
            self._finished.set()

    def _open(self) -> sqlite3.Connection:
        """The database and the keystore, checked against the master keys, version 3's plain
        text sealed, and expired idempotency keys purged."""
        keys_conn = self._keyring.open()
        try:
            conn = open_database(self._path, self._synchronous, cache_mb=self._cache_mb)
        except BaseException:
            self._keyring.close()
            raise
        try:
            seal_plaintext_database(conn, keys_conn, self._keys)
            forget_old_requests(conn)
        except BaseException:
            conn.close()
            self._keyring.close()
            raise
        return conn

    async def close(self) -> None:
        """Take no more operations; return once everything already handed over is committed."""
        self._queue.close()
        await self._finished.wait()

    async def _write_until_closed(self) -> None:
        """Group commit: a transaction starts at most every `commit_interval`, taking everything
        queued by then. Each commit has a fixed cost (~0.3 ms of CPU: statements, WAL pages, their
        checkpoint) that one event per commit pays alone; at 2,734 events/s, waiting up to 3 ms
        to share it cut the server's CPU per event by a fifth (RESULTS.md 2026-11-23 10:40). An
        event arriving after a quiet spell is written at once."""
        queue = self._queue
        started = -math.inf
        while True:
            try:
                batch = [await queue.get()]
            except anyio.EndOfStream:
                break
            wait = started + self._commit_interval - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)
            started = anyio.current_time()
            while len(batch) < self._max_batch:
                try:
                    batch.append(queue.get_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            await self._commit(batch)
            await self._checkpointer.copy_tail(self._conn, self._thread)

    async def _commit(self, batch: list[Operation]) -> None:
        work = self._plan(batch)
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                await self._write(work)
                break
            except sqlite3.Error as exc:
                # Nothing in the batch was acknowledged; keep it and try again rather than drop it.
                self._metrics.journal_errors += 1
                log.error(
                    "journal: commit of %d operations failed (%s); retrying in %.2f s",
                    len(batch),
                    exc,
                    delay,
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._metrics.observe_commit(time.perf_counter() - started)
        for step, ops in work:
            await step.committed(ops)

    def _plan(self, batch: list[Operation]) -> list[tuple[Step, list[Any]]]:
        """Each step with its operations, in queue order; steps with none are left out."""
        by_kind: dict[type, list[Any]] = {}
        for op in batch:
            by_kind.setdefault(type(op), []).append(op)
        work = []
        for step in self._steps:
            found = [by_kind[kind] for kind in step.kinds if kind in by_kind]
            if len(found) == 1:
                work.append((step, found[0]))
            elif found:  # kinds mixed in one batch: keep their queue order
                work.append((step, [op for op in batch if isinstance(op, step.kinds)]))
        return work

    async def _write(self, work: list[tuple[Step, list[Any]]]) -> None:
        """Write one transaction on the event loop when it cannot wait on the disk: with
        `synchronous = NORMAL` a WAL commit only copies pages to the OS (about 0.3 ms for a few
        events), while a hop to a worker thread and back cost 110 us of CPU by itself and, on a
        one-core server, lost the GIL back and forth for milliseconds (RESULTS.md 2026-11-23
        10:40). What syncs to disk goes to the thread: every commit with `synchronous = FULL`,
        and new or erased sessions' data keys (the keystore is always FULL)."""
        if self._synchronous == "FULL" or any(step.syncs_keys for step, _ops in work):
            await anyio.to_thread.run_sync(self._transaction, work, limiter=self._thread)
            return
        # The connection has one user at a time, as in the thread. It is nearly always free, and
        # then the commit runs at once: `async with` would first yield, putting the commit (and
        # every ack waiting on it) behind everything else the loop has ready.
        try:
            self._thread.acquire_nowait()
        except anyio.WouldBlock:
            await self._thread.acquire()
        try:
            self._transaction(work)
        finally:
            self._thread.release()

    def _transaction(self, work: list[tuple[Step, list[Any]]]) -> None:
        """New sessions' data keys are committed to the keystore before anything sealed with
        them, and erased sessions' keys are destroyed before their rows: a crash between the
        two leaves an unused key, or rows nobody can read, never data without its key."""
        conn = self._conn
        assert conn is not None, "the journal is not open"
        for step, ops in work:
            step.prepare(self._keyring, ops)
        tx = Transaction(conn, iso_ms(datetime.now(UTC)), self._keyring.cipher_for)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step, ops in work:
                step.write(tx, ops)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
