"""The journal: the one writer of the SQLite database, committing many operations per
transaction (group commit). Everything it is handed is durable once its callback has run:
acks and admin fan-out happen in that callback, never before the commit."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import anyio
import msgspec
from anyio.abc import TaskStatus

from actors.events import iso_ms
from actors.mailbox import Mailbox
from actors.ports import EventEntry, SnapshotEntry
from app.metrics import Metrics
from app.schema import open_database

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


class Barrier(msgspec.Struct, frozen=True):
    done: anyio.Event


Operation = EventEntry | SnapshotEntry | CreateSession | Barrier


class JournalClosed(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the journal is closed: the server is shutting down")


class SqliteJournal:
    def __init__(
        self,
        path: Path,
        *,
        synchronous: str,
        queue_size: int,
        max_batch: int,
        on_committed: Callable[[list[EventEntry]], None],
        metrics: Metrics,
        state_interval: float = 1.0,
    ) -> None:
        self._path = path
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._on_committed = on_committed
        self._metrics = metrics
        # Overflow policy: producers wait for room (back-pressure up to the candidate's TCP).
        self._queue: Mailbox[Operation] = Mailbox(queue_size)
        self._thread = anyio.CapacityLimiter(1)
        self._conn: sqlite3.Connection | None = None
        self._finished = anyio.Event()
        # Newest state per session not yet written to sessions.state (derived data: recovery
        # replays the events). Written at once on a status change, else every interval, and on
        # every flush and at close, so a session that leaves memory is always up to date.
        self._unwritten_states: dict[str, EventEntry] = {}
        self._state_interval = state_interval
        self._next_state_write = 0.0

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

    async def create_session(self, row: SessionRow) -> None:
        operation = CreateSession(row, anyio.Event())
        await self.append(operation)  # type: ignore[arg-type]
        await operation.done.wait()

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    # --- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._conn = await anyio.to_thread.run_sync(open_database, self._path, self._synchronous)
        task_status.started()
        try:
            queue = self._queue
            while True:
                try:
                    batch = [await queue.get()]
                except anyio.EndOfStream:
                    break
                while len(batch) < self._max_batch:
                    try:
                        batch.append(queue.get_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await self._commit(batch)
            if self._unwritten_states:
                await self._commit([])  # closing: write every state still pending
        finally:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            self._finished.set()

    async def close(self) -> None:
        """Take no more operations; return once everything already handed over is committed."""
        self._queue.close()
        await self._finished.wait()

    def _states_to_write(self, batch: list[Operation]) -> list[EventEntry]:
        unwritten = self._unwritten_states
        for op in batch:
            if isinstance(op, EventEntry):
                unwritten[op.session_id] = op
        now = time.monotonic()
        if (
            now >= self._next_state_write
            or not batch
            or any(isinstance(op, Barrier) for op in batch)
        ):
            self._next_state_write = now + self._state_interval
            states = list(unwritten.values())
            unwritten.clear()
            return states
        changed = {op.session_id for op in batch if isinstance(op, EventEntry) and op.state_changed}
        return [unwritten.pop(session_id) for session_id in changed]

    async def _commit(self, batch: list[Operation]) -> None:
        states = self._states_to_write(batch)
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                await anyio.to_thread.run_sync(
                    _write_batch, self._conn, batch, states, limiter=self._thread
                )
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
        self._metrics.observe_commit(time.perf_counter() - started, len(batch))
        events = [op for op in batch if isinstance(op, EventEntry)]
        self._metrics.events_stored += len(events)
        if events:
            self._on_committed(events)
        for op in batch:
            if isinstance(op, Barrier | CreateSession):
                op.done.set()


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
    "INSERT INTO sessions (id, assessment_id, candidate_name, candidate_email, candidate_phone, "
    "token_hash, ip_address, user_agent, start_time, status, state, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_SNAPSHOTS: Final = (
    "INSERT INTO snapshots (session_id, event_offset, state) VALUES (?, ?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET event_offset = excluded.event_offset, "
    "state = excluded.state WHERE excluded.event_offset >= snapshots.event_offset"
)


def _write_batch(
    conn: sqlite3.Connection | None, batch: list[Operation], latest: list[EventEntry]
) -> None:
    assert conn is not None, "the journal is not open"
    created = []
    events = []
    snapshots = []
    for op in batch:
        if isinstance(op, EventEntry):
            event = op.event
            events.append(
                (
                    op.session_id,
                    event.offset,
                    event.seq,
                    event.type,
                    event.ts,
                    event.questionId,
                    event.origin,
                    event.data,
                )
            )
        elif isinstance(op, SnapshotEntry):
            snapshots.append((op.session_id, op.offset, op.snapshot.decode()))
        elif isinstance(op, CreateSession):
            row = op.row
            created.append(
                (
                    row.id, row.assessment_id, row.candidate_name, row.candidate_email,
                    row.candidate_phone, row.token_hash, row.ip_address, row.user_agent,
                    row.start_time, row.status, row.state.decode(), row.created_at, row.created_at,
                )
            )  # fmt: skip
    states = [
        (entry.state, entry.state.status, entry.state.endTime, entry.event.offset, entry.session_id)
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
            conn.execute(_UPDATE_STATES, (iso_ms(datetime.now(UTC)), ENCODER.encode(states)))
        if snapshots:
            conn.executemany(_UPSERT_SNAPSHOTS, snapshots)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
