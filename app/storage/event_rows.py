"""The event log and snapshots: each event sealed under its session's key, and what follows a
commit of events (the commit dispatch: acks, REST answers, admin updates)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

import msgspec

from actors.ports import EventEntry, SnapshotEntry
from app.storage.request_rows import insert_requests, request_row
from app.storage.review_rows import upsert_reviews
from app.storage.sealing.rows import seal_event_data, seal_snapshot
from app.storage.transaction import Transaction, Writes
from app.telemetry.metrics import Metrics

log = logging.getLogger("vigil.journal")
ENCODER: Final = msgspec.json.Encoder()

# The statement takes the whole batch as one JSON array and unpacks it with json_each, so SQLite
# inserts every row in one call that runs without the GIL; executemany hands the GIL back and
# forth with the busy event loop once per row.
_INSERT_EVENTS: Final = (
    "INSERT OR IGNORE INTO events (session_key, event_offset, seq, type, ts, question_id, origin, data) "
    "SELECT s.key, j.value->>1, j.value->>2, j.value->>3, j.value->>4, j.value->>5, j.value->>6, "
    "j.value->>7 FROM json_each(?) AS j JOIN sessions AS s ON s.id = j.value->>0"
)
_UPSERT_SNAPSHOTS: Final = (
    "INSERT INTO snapshots (session_id, event_offset, state) VALUES (?, ?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET event_offset = excluded.event_offset, "
    "state = excluded.state WHERE excluded.event_offset >= snapshots.event_offset"
)


class EventsStep:
    kinds = (EventEntry,)
    syncs_keys = False

    def __init__(self, on_committed: Callable[[list[EventEntry]], None], metrics: Metrics) -> None:
        self._on_committed = on_committed
        self._metrics = metrics

    def prepare(self, keys: object, ops: list[EventEntry]) -> None:
        return None

    def write(self, tx: Transaction, ops: list[EventEntry]) -> None:
        events, requests = [], []
        for op in ops:
            event = op.event
            cipher = tx.cipher_for(op.session_id)
            if cipher is None:
                continue  # erased while this was on its way: its rows are gone too
            if op.request is not None:
                requests.append(request_row(op.request, tx.now, op.session_id, event.offset))
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
        if events:
            cursor = tx.conn.execute(_INSERT_EVENTS, (ENCODER.encode(events),))
            if cursor.rowcount != len(events):
                log.warning(
                    "journal: %d of %d events were already stored and were not stored again",
                    len(events) - cursor.rowcount,
                    len(events),
                )
        insert_requests(tx.conn, requests)
        upsert_reviews(tx.conn, ops)

    async def committed(self, ops: list[EventEntry]) -> None:
        committed_at = time.perf_counter()
        self._metrics.events_stored += len(ops)
        waited = self._metrics.event_commit_seconds
        for entry in ops:
            if entry.received is not None:
                waited.observe(committed_at - entry.received)
        self._on_committed(ops)


class SnapshotsStep(Writes):
    kinds = (SnapshotEntry,)

    def write(self, tx: Transaction, ops: list[SnapshotEntry]) -> None:
        snapshots = []
        for op in ops:
            cipher = tx.cipher_for(op.session_id)
            if cipher is not None:
                snapshots.append((op.session_id, op.offset, seal_snapshot(cipher, op.snapshot)))
        if snapshots:
            tx.conn.executemany(_UPSERT_SNAPSHOTS, snapshots)

    async def committed(self, ops: list[SnapshotEntry]) -> None:
        return None  # nobody waits for a snapshot: it only shortens a replay
