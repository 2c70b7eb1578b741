"""The journal: the one writer of the SQLite database, committing many operations per
transaction (group commit). Everything it is handed is durable once its callback has run:
acks and admin fan-out happen in that callback, never before the commit."""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import anyio
import msgspec
from anyio.abc import TaskStatus

from actors.events import iso_ms
from actors.mailbox import Mailbox
from actors.ports import EventEntry, RequestMark, SnapshotEntry
from app.access.idempotency import expired_before
from app.storage.audit import AuditRow, chain_hash
from app.storage.schema import open_checkpointer, open_database
from app.storage.sealing.data_keys import DataKeys, MasterKeys, SessionCipher
from app.storage.sealing.keystore import (
    check_master_keys,
    destroy_keys,
    keys_by_master,
    load_cipher,
    open_keystore,
    rewrap_retired,
    store_keys,
)
from app.storage.sealing.migration import seal_plaintext_database
from app.storage.sealing.rows import (
    Identity,
    blank_name,
    seal_event_data,
    seal_identity,
    seal_response,
    seal_snapshot,
    without_name,
)
from app.telemetry.metrics import Metrics

log = logging.getLogger("vigil.journal")
ENCODER: Final = msgspec.json.Encoder()


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    assessment_id: str
    candidate_name: str
    candidate_email: str
    candidate_phone: str | None
    token_hash: str
    ip_address: str | None
    user_agent: str | None
    start_time: str
    status: str
    state: bytes
    created_at: str


class CreateSession(msgspec.Struct, frozen=True):
    row: SessionRow
    done: anyio.Event
    request: RequestMark | None = None
    response: bytes | None = None  # kept for a retry of the request: it holds the token


class CreateAssessment(msgspec.Struct):
    id: str
    definition: bytes
    created_at: str
    done: anyio.Event
    request: RequestMark | None = None
    created: bool = False  # set by the writer: False if the id was taken


class Barrier(msgspec.Struct, frozen=True):
    done: anyio.Event


class EraseSession(msgspec.Struct, frozen=True):
    session_id: str
    done: anyio.Event


class AppendAudit(msgspec.Struct, frozen=True):
    row: AuditRow
    done: anyio.Event


Operation = (
    EventEntry
    | SnapshotEntry
    | CreateSession
    | CreateAssessment
    | Barrier
    | EraseSession
    | AppendAudit
)


# Operations whose transaction writes the keystore first, which syncs to disk.
_SYNCS_KEYS: Final = (CreateSession, EraseSession)


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
        state_interval: float = 10.0,
        checkpoint_interval: float = 0.1,
        wal_restart_pages: int = 4096,
    ) -> None:
        self._path = path
        self._keystore_path = keystore
        self._keys = keys
        self._keys_conn: sqlite3.Connection | None = None
        # Data keys still wrapped by a retired master key (re-wrapped in the background).
        self.keys_under_retired_master = 0
        self._keys_changed = anyio.Event()
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._commit_interval = commit_interval
        self._cache_mb = cache_mb
        self._on_committed = on_committed
        self._metrics = metrics
        # Overflow policy: producers wait for room (back-pressure up to the candidate's TCP).
        self._queue: Mailbox[Operation] = Mailbox(queue_size)
        self._thread = anyio.CapacityLimiter(1)
        self._conn: sqlite3.Connection | None = None
        self._finished = anyio.Event()
        # Newest state per session not yet written to sessions.state (derived data: recovery
        # replays the events). See _states_to_write for when; every flush and the close write
        # them all, so a session that leaves memory is always up to date.
        self._unwritten_states: dict[str, EventEntry] = {}
        self._state_interval = state_interval
        self._state_written_at: dict[str, float] = {}
        self._write_order: deque[tuple[float, str]] = (
            deque()
        )  # (written at, session), in time order
        # Often: each checkpoint syncs the WAL, and a sync with a second's worth of pages to
        # write stalled commits (and acks) for 30-40 ms once a second (RESULTS.md 2026-11-23 04:10).
        self._checkpoint_interval = checkpoint_interval
        self._wal_restart_pages = wal_restart_pages
        # Set by the background checkpointer once it has nearly caught up with the WAL: the
        # writer then copies the last few pages itself, between two commits (see
        # _checkpoint_forever).
        self._wal_tail_due = False

    # --- the port actors use -------------------------------------------------------------------

    async def append(self, entry: EventEntry | SnapshotEntry) -> None:
        try:
            await self._queue.put(entry)
        except anyio.ClosedResourceError:
            raise JournalClosed() from None

    async def flush(self) -> None:
        barrier = Barrier(anyio.Event())
        await self.append(barrier)  # type: ignore[arg-type]
        await barrier.done.wait()

    async def erase_session(self, session_id: str) -> None:
        """Delete the session and everything stored for it, and leave no copy in the WAL.
        The caller has stopped its actor, so nothing of it is queued behind this."""
        operation = EraseSession(session_id, anyio.Event())
        await self.append(operation)  # type: ignore[arg-type]
        await operation.done.wait()

    async def create_session(
        self, row: SessionRow, request: RequestMark | None = None, response: bytes | None = None
    ) -> None:
        operation = CreateSession(row, anyio.Event(), request, response)
        await self.append(operation)  # type: ignore[arg-type]
        await operation.done.wait()

    async def create_assessment(
        self, assessment_id: str, definition: bytes, created_at: str, request: RequestMark | None
    ) -> bool:
        """Store an assessment; False (and nothing stored) if its id is taken."""
        operation = CreateAssessment(assessment_id, definition, created_at, anyio.Event(), request)
        await self.append(operation)  # type: ignore[arg-type]
        await operation.done.wait()
        return operation.created

    async def audit(self, row: AuditRow) -> None:
        """Append to the audit log; returns once committed, so what is audited is on disk
        before the answer it describes leaves."""
        operation = AppendAudit(row, anyio.Event())
        await self.append(operation)  # type: ignore[arg-type]
        await operation.done.wait()

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    # --- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._conn, self._keys_conn = await anyio.to_thread.run_sync(self._open)
        await anyio.to_thread.run_sync(_forget_old_requests, self._conn, limiter=self._thread)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._checkpoint_forever)
                tg.start_soon(self._forget_old_requests_forever)
                tg.start_soon(self._rewrap_retired_keys)
                task_status.started()
                await self._write_until_closed()
                tg.cancel_scope.cancel()
            await anyio.to_thread.run_sync(
                _checkpoint, self._conn, "TRUNCATE", limiter=self._thread
            )
        finally:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            keys_conn, self._keys_conn = self._keys_conn, None
            if keys_conn is not None:
                keys_conn.close()
            self._finished.set()

    def _open(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        """The database and the keystore, checked against the master keys, and version 3's
        plain text sealed."""
        keys_conn = open_keystore(self._keystore_path)
        try:
            check_master_keys(keys_conn, self._keys.master)
            conn = open_database(self._path, self._synchronous, cache_mb=self._cache_mb)
        except BaseException:
            keys_conn.close()
            raise
        try:
            seal_plaintext_database(conn, keys_conn, self._keys)
        except BaseException:
            conn.close()
            keys_conn.close()
            raise
        self.keys_under_retired_master = self._count_retired(keys_conn)
        return conn, keys_conn

    def _count_retired(self, keys_conn: sqlite3.Connection) -> int:
        retired = self._keys.master.retired
        return sum(
            count for master_id, count in keys_by_master(keys_conn).items() if master_id in retired
        )

    async def use_master_keys(self, master: MasterKeys) -> None:
        """Rotate the master key while serving: refused (KeyConfigError) if some data key would
        be left wrapped by a key no longer given; otherwise new data keys are wrapped by the new
        current key at once, and the old ones are re-wrapped in the background."""

        def switch() -> None:
            assert self._keys_conn is not None, "the keystore is not open"
            check_master_keys(self._keys_conn, master)
            self._keys.master = master
            self.keys_under_retired_master = self._count_retired(self._keys_conn)

        await anyio.to_thread.run_sync(switch, limiter=self._thread)
        self._keys_changed.set()

    async def _rewrap_retired_keys(self) -> None:
        """Master key rotation: re-wrap the data keys of retired master keys with the current
        one, a batch at a time between commits, while serving."""
        keys_conn = self._keys_conn
        assert keys_conn is not None, "the keystore is not open"
        while True:
            total = 0
            while self.keys_under_retired_master > 0:
                done = await anyio.to_thread.run_sync(
                    rewrap_retired, keys_conn, self._keys, 500, limiter=self._thread
                )
                if done == 0:
                    break
                total += done
                self.keys_under_retired_master = max(0, self.keys_under_retired_master - done)
                await anyio.sleep(0.01)
            self.keys_under_retired_master = 0
            if total:
                log.warning(
                    "keystore: re-wrapped %d data keys with master key %s; the retired master "
                    "keys may now be removed",
                    total,
                    self._keys.master.current.id,
                )
            await self._keys_changed.wait()
            self._keys_changed = anyio.Event()

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
            if self._wal_tail_due:
                self._wal_tail_due = False
                await anyio.to_thread.run_sync(
                    _checkpoint_counts, self._conn, "PASSIVE", limiter=self._thread
                )
        if self._unwritten_states:
            await self._commit([])  # closing: write every state still pending

    async def _checkpoint_forever(self) -> None:
        """Copy the WAL back into the database now and then, beside the writer, never in a commit.

        SQLite starts the WAL over only when a write transaction begins with every page of it
        copied back. Under a steady stream of commits a checkpointer beside the writer never
        gets there: the writer adds pages while it copies, and the WAL grew by 15 MB/s without
        end (RESULTS.md 2026-11-23 04:10). So this copies, again at once, until fewer than
        _WAL_TAIL_PAGES are left, and then has the writer copy those few itself between two
        commits (about a millisecond), once the WAL holds `wal_restart_pages`; its next
        transaction then starts the WAL over."""
        conn = await anyio.to_thread.run_sync(open_checkpointer, self._path)
        try:
            while True:
                await anyio.sleep(self._checkpoint_interval)
                try:
                    for _ in range(_CATCH_UP_ROUNDS):
                        _busy, pages, copied = await anyio.to_thread.run_sync(
                            _checkpoint_counts, conn, "PASSIVE", abandon_on_cancel=False
                        )
                        if pages - copied < _WAL_TAIL_PAGES:
                            self._wal_tail_due = pages >= self._wal_restart_pages
                            break
                except sqlite3.Error as exc:
                    log.warning(
                        "journal: checkpoint failed (%s); the WAL grows until one succeeds", exc
                    )
        finally:
            conn.close()

    async def _forget_old_requests_forever(self) -> None:
        """Idempotency keys older than a day, purged hourly on the writer's connection (between
        commits: the limiter lets one thread use it at a time)."""
        while True:
            await anyio.sleep(3600)
            await anyio.to_thread.run_sync(_forget_old_requests, self._conn, limiter=self._thread)

    async def close(self) -> None:
        """Take no more operations; return once everything already handed over is committed."""
        self._queue.close()
        await self._finished.wait()

    def _states_to_write(self, batch: list[Operation]) -> list[EventEntry]:
        """The session states this transaction writes: a session's at once when its status,
        connection, trust or risk level changed, otherwise once its last write is older than the
        interval. Spread over batches like this, writing a thousand states costs nothing
        visible; written all at once every second it held a commit (and its acks) back by ~30 ms.
        Due sessions are found in the order they were last written, so the look stops at the
        first one not yet due: O(states written) per commit, not O(live sessions)."""
        unwritten, written_at, order = (
            self._unwritten_states,
            self._state_written_at,
            self._write_order,
        )
        now = time.monotonic()
        if not batch or any(isinstance(op, Barrier) for op in batch):
            for op in batch:
                if isinstance(op, EventEntry):
                    unwritten[op.session_id] = op
            due = list(unwritten.values())
            unwritten.clear()
            written_at.clear()
            order.clear()
            return due
        due_ids: dict[str, None] = {}
        for op in batch:
            if not isinstance(op, EventEntry):
                continue
            unwritten[op.session_id] = op
            if op.state_changed or now - written_at.get(op.session_id, 0.0) >= self._state_interval:
                due_ids[op.session_id] = None
        while (
            order and now - order[0][0] >= self._state_interval and len(due_ids) < len(batch) + 64
        ):
            moment, session_id = order.popleft()
            if written_at.get(session_id) != moment:
                continue  # written again since; a later entry stands for it
            if session_id in unwritten:
                due_ids[session_id] = None
            else:
                del written_at[session_id]  # idle: its next event is written at once
        for session_id in due_ids:
            written_at[session_id] = now
            order.append((now, session_id))
        return [unwritten.pop(session_id) for session_id in due_ids]

    async def _commit(self, batch: list[Operation]) -> None:
        states = self._states_to_write(batch)
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                await self._write(batch, states)
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
        committed_at = time.perf_counter()
        self._metrics.observe_commit(committed_at - started)
        events = [op for op in batch if isinstance(op, EventEntry)]
        self._metrics.events_stored += len(events)
        waited = self._metrics.event_commit_seconds
        for entry in events:
            if entry.received is not None:
                waited.observe(committed_at - entry.received)
        if events:
            self._on_committed(events)
        erased = [op.session_id for op in batch if isinstance(op, EraseSession)]
        if erased:
            for session_id in erased:
                self._unwritten_states.pop(session_id, None)
            await self._truncate_wal()
        for op in batch:
            if isinstance(
                op, Barrier | CreateSession | CreateAssessment | EraseSession | AppendAudit
            ):
                op.done.set()

    async def _write(self, batch: list[Operation], states: list[EventEntry]) -> None:
        """Write one transaction on the event loop when it cannot wait on the disk: with
        `synchronous = NORMAL` a WAL commit only copies pages to the OS (about 0.3 ms for a few
        events), while a hop to a worker thread and back cost 110 us of CPU by itself and, on a
        one-core server, lost the GIL back and forth for milliseconds (RESULTS.md 2026-11-23
        10:40). What syncs to disk goes to the thread: every commit with `synchronous = FULL`,
        and new or erased sessions' data keys (the keystore is always FULL)."""
        if self._synchronous == "FULL" or any(isinstance(op, _SYNCS_KEYS) for op in batch):
            await anyio.to_thread.run_sync(
                self._write_batch_sealed, batch, states, limiter=self._thread
            )
            return
        # The connection has one user at a time, as in the thread. It is nearly always free, and
        # then the commit runs at once: `async with` would first yield, putting the commit (and
        # every ack waiting on it) behind everything else the loop has ready.
        try:
            self._thread.acquire_nowait()
        except anyio.WouldBlock:
            await self._thread.acquire()
        try:
            self._write_batch_sealed(batch, states)
        finally:
            self._thread.release()

    def _write_batch_sealed(self, batch: list[Operation], states: list[EventEntry]) -> None:
        """New sessions' data keys are committed to the keystore before anything sealed with
        them, and erased sessions' keys are destroyed before their rows: a crash between the
        two leaves an unused key, or rows nobody can read, never data without its key."""
        assert self._keys_conn is not None, "the keystore is not open"
        now = iso_ms(datetime.now(UTC))
        new_keys, ciphers = [], []
        for op in batch:
            if isinstance(op, CreateSession) and (
                load_cipher(self._keys_conn, self._keys, op.row.id) is None
            ):
                cipher, master_id, wrapped = self._keys.new(op.row.id)
                new_keys.append((op.row.id, master_id, wrapped, now))
                ciphers.append(cipher)
        if new_keys:
            store_keys(self._keys_conn, new_keys)
            for cipher in ciphers:
                self._keys.remember(cipher)
        erased = [op.session_id for op in batch if isinstance(op, EraseSession)]
        if erased:
            destroy_keys(self._keys_conn, self._keys, erased)
        keys_conn, keys = self._keys_conn, self._keys
        _write_batch(self._conn, lambda sid: load_cipher(keys_conn, keys, sid), batch, states)

    async def _truncate_wal(self) -> None:
        """Copy every page back into the database and empty the WAL, so an erased session's old
        page images do not survive there. Retries while a reader still holds an old snapshot."""
        for attempt in range(50):
            busy = await anyio.to_thread.run_sync(
                _checkpoint, self._conn, "TRUNCATE", limiter=self._thread
            )
            if not busy:
                return
            await anyio.sleep(0.01 * (attempt + 1))
        log.error("journal: could not truncate the WAL after an erasure; a reader keeps it busy")


# Each statement takes the whole batch as one JSON array and unpacks it with json_each, so SQLite
# inserts every row in one call that runs without the GIL; executemany hands the GIL back and
# forth with the busy event loop once per row.
_INSERT_EVENTS: Final = (
    "INSERT OR IGNORE INTO events (session_key, event_offset, seq, type, ts, question_id, origin, data) "
    "SELECT s.key, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, "
    "j.value->>7 FROM json_each(?) AS j JOIN sessions AS s ON s.id = j.value->>0"
)
_UPDATE_STATES: Final = (
    "UPDATE sessions SET state = u.value->>0, status = u.value->>1, end_time = u.value->>2, "
    "last_offset = u.value->>3, updated_at = ? FROM json_each(?) AS u WHERE sessions.id = u.value->>4"
)
_INSERT_SESSIONS: Final = (
    "INSERT INTO sessions (id, assessment_id, identity, token_hash, start_time, status, state, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_SNAPSHOTS: Final = (
    "INSERT INTO snapshots (session_id, event_offset, state) VALUES (?, ?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET event_offset = excluded.event_offset, "
    "state = excluded.state WHERE excluded.event_offset >= snapshots.event_offset"
)


def _checkpoint(conn: sqlite3.Connection | None, mode: str) -> bool:
    """Run a checkpoint; True if it could not finish (busy)."""
    busy, _pages, _copied = _checkpoint_counts(conn, mode)
    return busy


def _checkpoint_counts(conn: sqlite3.Connection | None, mode: str) -> tuple[bool, int, int]:
    """Run a checkpoint: (busy, pages in the WAL, pages of it now copied to the database)."""
    assert conn is not None, "the journal is not open"
    busy, pages, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return bool(busy), int(pages), int(copied)


# The background checkpointer copies again at once while more than this many WAL pages (4 KiB
# each) are left, at most _CATCH_UP_ROUNDS times per interval; the writer copies the rest.
_WAL_TAIL_PAGES: Final = 256
_CATCH_UP_ROUNDS: Final = 8


_INSERT_REQUESTS: Final = (
    "INSERT OR REPLACE INTO idempotency (scope, key, request, status, session_id, event_offset, "
    "resource_id, response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _forget_old_requests(conn: sqlite3.Connection | None) -> None:
    """Idempotency keys are kept for a day; older ones are purged when the journal opens and
    every hour (and ignored by lookups in between)."""
    assert conn is not None, "the journal is not open"
    conn.execute("DELETE FROM idempotency WHERE created_at < ?", (expired_before(),))


def _erase(conn: sqlite3.Connection, session_id: str) -> None:
    conn.execute("DELETE FROM idempotency WHERE session_id = ?", (session_id,))
    conn.execute(
        "DELETE FROM events WHERE session_key = (SELECT key FROM sessions WHERE id = ?)",
        (session_id,),
    )
    conn.execute("DELETE FROM snapshots WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


def _request_row(
    mark: RequestMark,
    now: str,
    session_id: str | None = None,
    offset: int | None = None,
    resource_id: str | None = None,
    response: bytes | None = None,
) -> tuple[object, ...]:
    return (
        mark.scope, mark.key, mark.request, mark.status, session_id, offset, resource_id,
        response, now,
    )  # fmt: skip


def _insert_assessment(conn: sqlite3.Connection, op: CreateAssessment) -> bool:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO assessments (id, definition, created_at) VALUES (?, ?, ?)",
        (op.id, op.definition.decode(), op.created_at),
    )
    return cursor.rowcount == 1


def _write_batch(
    conn: sqlite3.Connection | None,
    cipher_for: Callable[[str], SessionCipher | None],
    batch: list[Operation],
    latest: list[EventEntry],
) -> None:
    assert conn is not None, "the journal is not open"
    created = []
    events = []
    snapshots = []
    requests = []
    now = iso_ms(datetime.now(UTC))
    for op in batch:
        if isinstance(op, EventEntry):
            event = op.event
            cipher = cipher_for(op.session_id)
            if cipher is None:
                continue  # erased while this was on its way: its rows are gone too
            if op.request is not None:
                requests.append(_request_row(op.request, now, op.session_id, event.offset))
            events.append(
                (
                    op.session_id,
                    event.offset,
                    event.seq,
                    event.type,
                    event.ts,
                    event.questionId,
                    event.origin,
                    None
                    if event.data is None
                    else seal_event_data(cipher, event.offset, ENCODER.encode(event.data)),
                )
            )
        elif isinstance(op, SnapshotEntry):
            cipher = cipher_for(op.session_id)
            if cipher is not None:
                snapshots.append((op.session_id, op.offset, seal_snapshot(cipher, op.snapshot)))
        elif isinstance(op, CreateSession):
            row = op.row
            cipher = cipher_for(row.id)
            assert cipher is not None, "a new session's data key is stored before its row"
            identity = Identity(
                candidateName=row.candidate_name,
                candidateEmail=row.candidate_email,
                candidatePhone=row.candidate_phone,
                ipAddress=row.ip_address,
                userAgent=row.user_agent,
            )
            created.append(
                (
                    row.id, row.assessment_id, seal_identity(cipher, identity), row.token_hash,
                    row.start_time, row.status, blank_name(row.state.decode()), row.created_at,
                    row.created_at,
                )
            )  # fmt: skip
            if op.request is not None:
                response = None if op.response is None else seal_response(cipher, op.response)
                requests.append(_request_row(op.request, now, row.id, response=response))
    states = [
        (
            without_name(entry.state),
            entry.state.status,
            entry.state.endTime,
            entry.event.offset,
            entry.session_id,
        )
        for entry in latest
    ]
    conn.execute("BEGIN IMMEDIATE")
    try:
        if created:
            conn.executemany(_INSERT_SESSIONS, created)
        if events:
            cursor = conn.execute(_INSERT_EVENTS, (ENCODER.encode(events),))
            if cursor.rowcount != len(events):
                log.warning(
                    "journal: %d of %d events were already stored and were not stored again",
                    len(events) - cursor.rowcount,
                    len(events),
                )
        if states:
            conn.execute(_UPDATE_STATES, (now, ENCODER.encode(states)))
        for op in batch:
            if isinstance(op, CreateAssessment):
                op.created = _insert_assessment(conn, op)
                if op.created and op.request is not None:
                    requests.append(_request_row(op.request, now, resource_id=op.id))
        if requests:
            conn.executemany(_INSERT_REQUESTS, requests)
        if snapshots:
            conn.executemany(_UPSERT_SNAPSHOTS, snapshots)
        for op in batch:
            if isinstance(op, EraseSession):
                _erase(conn, op.session_id)
        audited = [op.row for op in batch if isinstance(op, AppendAudit)]
        if audited:
            _append_audit(conn, audited)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _append_audit(conn: sqlite3.Connection, rows: list[AuditRow]) -> None:
    found = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    previous = "" if found is None else str(found[0])
    for row in rows:
        previous = chain_hash(previous, row)
        conn.execute(
            "INSERT INTO audit (at, actor, action, session_id, status, address, detail, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.at, row.actor, row.action, row.sessionId, row.status, row.address,
                None if row.detail is None else msgspec.json.encode(row.detail).decode(),
                previous,
            ),
        )  # fmt: skip
