"""Each session's current verdict (CONTRACT.md 9.3) in a plain table the listing can filter on:
written in the transaction of its `session_reviewed` event, which keeps the full (sealed)
decision. Only the status and when: the reason and the reviewer stay sealed in the event."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Final

from actors.ports import EventEntry
from actors.session_review import SESSION_REVIEWED, STATUS_OF

REVIEWS_TABLE: Final = """
CREATE TABLE IF NOT EXISTS session_reviews (
    session_id TEXT PRIMARY KEY,      -- the public session id
    status TEXT NOT NULL,             -- verified, rejected or needs_review: the latest decision
    event_offset INTEGER NOT NULL,    -- its session_reviewed event
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS session_reviews_by_status ON session_reviews (status);
"""
_UPSERT: Final = (
    "INSERT INTO session_reviews (session_id, status, event_offset, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET status = excluded.status, "
    "event_offset = excluded.event_offset, at = excluded.at "
    "WHERE excluded.event_offset > session_reviews.event_offset"
)


def upsert_reviews(conn: sqlite3.Connection, ops: Iterable[EventEntry]) -> None:
    rows = []
    for op in ops:
        event = op.event
        if event.type != SESSION_REVIEWED or not isinstance(event.data, dict):
            continue
        status = STATUS_OF.get(str(event.data.get("decision")))
        if status is not None:
            rows.append((op.session_id, status, event.offset, str(event.data.get("at", event.ts))))
    if rows:
        conn.executemany(_UPSERT, rows)


def erase_review(conn: sqlite3.Connection, session_id: str) -> None:
    conn.execute("DELETE FROM session_reviews WHERE session_id = ?", (session_id,))


def queue_query(
    *,
    assessment_id: str | None,
    status: str | None,
    verdict: str | None,
    finished: bool | None,
    by_risk: bool,
    columns: str,
    sessions: str,
) -> tuple[str, list[object]]:
    """The SQL of the review queue (`SqliteStore.review_queue`): sessions with their current
    verdict, filtered, riskiest first (or in creation order)."""
    clauses: list[str] = []
    args: list[object] = []
    if assessment_id is not None:
        clauses.append("s.assessment_id = ?")
        args.append(assessment_id)
    if status is not None:
        clauses.append("s.status = ?")
        args.append(status)
    if finished is not None:
        clauses.append(
            f"s.status {'' if finished else 'NOT '}IN ('COMPLETED', 'TERMINATED', 'FAILED')"
        )
    if verdict == "unreviewed":
        clauses.append("r.status IS NULL")
    elif verdict is not None:
        clauses.append("r.status = ?")
        args.append(verdict)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "CAST(s.state ->> '$.riskScore' AS REAL) DESC, s.key" if by_risk else "s.key"
    query = (
        f"SELECT {columns}, r.status, r.at FROM {sessions} "
        f"LEFT JOIN session_reviews AS r ON r.session_id = s.id {where} ORDER BY {order}"
    )
    return query, args
