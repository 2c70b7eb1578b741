"""The webhooks' own small database (`<storage>/webhooks.db`, owned by `WebhookService`): each
endpoint's cursor (the last journal event id it has everything of) with its retry state, so a
restart resumes where deliveries stopped and keeps backing off, and the delivery log an admin
reads (`GET /webhooks/deliveries`). Rows name sessions by id, never by personal data."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import aiosqlite
import msgspec

DATABASE: Final = "webhooks.db"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS cursors (
    endpoint TEXT PRIMARY KEY,
    after_id INTEGER NOT NULL,        -- every webhook of the journal's events up to it is done
    failures INTEGER NOT NULL DEFAULT 0,
    retry_at REAL                     -- unix time of the next attempt after failures
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    type TEXT NOT NULL,
    session_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,            -- delivered, failed, refused
    http_status INTEGER,
    error TEXT,
    at TEXT NOT NULL,
    ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_endpoint ON deliveries (endpoint, id);
"""


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    endpoint: str
    webhookId: str
    type: str
    sessionId: str
    attempt: int
    outcome: str
    httpStatus: int | None
    error: str | None
    at: str
    ms: float


class Cursor(msgspec.Struct, frozen=True, kw_only=True):
    after_id: int
    failures: int = 0
    retry_at: float | None = None


class DeliveryLog:
    def __init__(self, conn: aiosqlite.Connection, keep_rows: int) -> None:
        self._conn = conn
        self._keep = keep_rows
        self._written = 0

    @classmethod
    async def open(cls, storage: Path, keep_rows: int) -> DeliveryLog:
        conn = await aiosqlite.connect(storage / DATABASE)
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")  # a cursor must not move back
        await conn.executescript(_SCHEMA)
        await conn.commit()
        return cls(conn, keep_rows)

    async def close(self) -> None:
        await self._conn.close()

    async def cursor(self, endpoint: str, start_at: int) -> Cursor:
        """Where `endpoint` stands; a new one starts at `start_at` (the journal's end today)."""
        async with self._conn.execute(
            "SELECT after_id, failures, retry_at FROM cursors WHERE endpoint = ?", (endpoint,)
        ) as rows:
            row = await rows.fetchone()
        if row is not None:
            return Cursor(after_id=row[0], failures=row[1], retry_at=row[2])
        await self.save(endpoint, Cursor(after_id=start_at))
        return Cursor(after_id=start_at)

    async def save(self, endpoint: str, cursor: Cursor) -> None:
        await self._conn.execute(
            "INSERT INTO cursors (endpoint, after_id, failures, retry_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (endpoint) DO UPDATE SET after_id = excluded.after_id, "
            "failures = excluded.failures, retry_at = excluded.retry_at",
            (endpoint, cursor.after_id, cursor.failures, cursor.retry_at),
        )
        await self._conn.commit()

    async def record(self, endpoint: str, delivery: Delivery) -> None:
        await self._conn.execute(
            "INSERT INTO deliveries (endpoint, webhook_id, type, session_id, attempt, outcome, "
            "http_status, error, at, ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                endpoint, delivery.webhookId, delivery.type, delivery.sessionId, delivery.attempt,
                delivery.outcome, delivery.httpStatus, delivery.error, delivery.at, delivery.ms,
            ),
        )  # fmt: skip
        self._written += 1
        if self._written % 500 == 0:
            await self._conn.execute(
                "DELETE FROM deliveries WHERE endpoint = ? AND id <= "
                "(SELECT id FROM deliveries WHERE endpoint = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (endpoint, endpoint, self._keep),
            )
        await self._conn.commit()

    async def deliveries(
        self, endpoint: str | None, before: int | None, limit: int
    ) -> list[Delivery]:
        """Newest first; `before`: an id, for the next page."""
        clauses: list[str] = []
        params: list[object] = []
        if endpoint is not None:
            clauses.append("endpoint = ?")
            params.append(endpoint)
        if before is not None:
            clauses.append("id < ?")
            params.append(before)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self._conn.execute(
            "SELECT id, endpoint, webhook_id, type, session_id, attempt, outcome, http_status, "
            f"error, at, ms FROM deliveries {where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        ) as rows:
            found = await rows.fetchall()
        return [
            Delivery(
                id=r[0], endpoint=r[1], webhookId=r[2], type=r[3], sessionId=r[4], attempt=r[5],
                outcome=r[6], httpStatus=r[7], error=r[8], at=r[9], ms=r[10],
            )
            for r in found
        ]  # fmt: skip
