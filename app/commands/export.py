"""`vigil export`: a session's or an assessment's stored events as JSON lines, each in the
contract's event form (CONTRACT.md section 7: what Kafka consumers receive, `eventId`
`<session>:<offset>` to dedupe on), a session's events in offset order, sessions in creation
order. Events are read through the store, which opens sealed data as the server does."""

from __future__ import annotations

from typing import BinaryIO, Final

import msgspec

from app.kafka.mirror import message_of
from app.storage.store import LoggedEvent, SessionRecord, SqliteStore

EVENT_PAGE: Final = 5000
SESSION_PAGE: Final = 500
_ENCODER: Final = msgspec.json.Encoder()


class UnknownSessionError(LookupError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session {session_id!r} in this storage (erased, or never created)")


async def export_session(store: SqliteStore, session_id: str, node_id: str, out: BinaryIO) -> int:
    """Write the session's events; how many."""
    record = await store.session(session_id)
    if record is None:
        raise UnknownSessionError(session_id)
    return await _write_events(store, record, node_id, out)


async def export_assessment(
    store: SqliteStore, assessment_id: str, node_id: str, out: BinaryIO
) -> tuple[int, int]:
    """Write the events of every session of the assessment; how many sessions and events."""
    sessions = events = 0
    after_key = 0
    while True:
        page = await store.sessions(
            assessment_id=assessment_id, after_key=after_key, limit=SESSION_PAGE
        )
        if not page:  # (a page may come back short: the store skips erased sessions)
            return sessions, events
        for record in page:
            events += await _write_events(store, record, node_id, out)
            sessions += 1
        after_key = page[-1].key


async def _write_events(
    store: SqliteStore, record: SessionRecord, node_id: str, out: BinaryIO
) -> int:
    written, after = 0, 0
    while True:
        page = await store.events(record.id, after, EVENT_PAGE)
        lines = bytearray()
        for event in page:
            logged = LoggedEvent(
                id=0, session_id=record.id, assessment_id=record.assessmentId, event=event
            )
            message = message_of(logged, node_id, None)
            _ENCODER.encode_into(message, lines, len(lines))
            lines += b"\n"
        out.write(lines)
        written += len(page)
        if len(page) < EVENT_PAGE:
            out.flush()
            return written
        after = page[-1].offset
