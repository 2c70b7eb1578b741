"""The idempotency table's writes: each request with an Idempotency-Key is recorded in the
same transaction as what it changed (`app/access/idempotency.py` reads them), and purged after
a day."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Final

import anyio

from actors.events import iso_ms
from actors.ports import RequestMark

# How long a request with an Idempotency-Key is remembered: a retry after that is a new request.
KEPT_FOR: Final = timedelta(hours=24)

_INSERT: Final = (
    "INSERT OR REPLACE INTO idempotency (scope, key, request, status, session_id, event_offset, "
    "resource_id, response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

RequestRow = tuple[object, ...]


def expired_before() -> str:
    """Rows older than this may be purged, and are no longer answered as replays."""
    return iso_ms(datetime.now(UTC) - KEPT_FOR)


def request_row(
    mark: RequestMark,
    now: str,
    session_id: str | None = None,
    offset: int | None = None,
    resource_id: str | None = None,
    response: bytes | None = None,
) -> RequestRow:
    return (
        mark.scope, mark.key, mark.request, mark.status, session_id, offset, resource_id,
        response, now,
    )  # fmt: skip


def insert_requests(conn: sqlite3.Connection, rows: list[RequestRow]) -> None:
    if rows:
        conn.executemany(_INSERT, rows)


def forget_old_requests(conn: sqlite3.Connection | None) -> None:
    """Idempotency keys are kept for a day; older ones are purged when the journal opens and
    every hour (and ignored by lookups in between)."""
    assert conn is not None, "the journal is not open"
    conn.execute("DELETE FROM idempotency WHERE created_at < ?", (expired_before(),))


async def forget_old_requests_forever(
    conn: sqlite3.Connection | None, limiter: anyio.CapacityLimiter
) -> None:
    """Hourly, on the writer's connection between commits (`limiter`: one user at a time)."""
    while True:
        await anyio.sleep(3600)
        await anyio.to_thread.run_sync(forget_old_requests, conn, limiter=limiter)
