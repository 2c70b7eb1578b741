"""Erasing a session: its data key first (crypto-erasure: every copy of its rows, in any backup,
is unreadable from then on), then its rows, then the WAL's old page images of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import anyio
import msgspec

from app.storage.checkpoints import truncate_wal
from app.storage.review_rows import erase_review
from app.storage.sealing.keyring import KeyRing
from app.storage.transaction import Transaction, Writes


class EraseSession(msgspec.Struct, frozen=True):
    session_id: str
    done: anyio.Event


class ErasureStep(Writes):
    """Destroys the keys before the transaction deletes the rows: a crash between the two leaves
    rows nobody can read, never readable rows of an erased session."""

    kinds = (EraseSession,)
    syncs_keys = True

    def __init__(
        self, conn: Callable[[], sqlite3.Connection | None], limiter: anyio.CapacityLimiter
    ) -> None:
        self._conn = conn
        self._limiter = limiter

    def prepare(self, keys: KeyRing, ops: list[EraseSession]) -> None:
        keys.destroy([op.session_id for op in ops])

    def write(self, tx: Transaction, ops: list[EraseSession]) -> None:
        for op in ops:
            _erase(tx.conn, op.session_id)

    async def committed(self, ops: list[EraseSession]) -> None:
        await truncate_wal(self._conn(), self._limiter)
        await super().committed(ops)


def _erase(conn: sqlite3.Connection, session_id: str) -> None:
    conn.execute("DELETE FROM idempotency WHERE session_id = ?", (session_id,))
    conn.execute(
        "DELETE FROM events WHERE session_key = (SELECT key FROM sessions WHERE id = ?)",
        (session_id,),
    )
    conn.execute("DELETE FROM snapshots WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM biometrics WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
    erase_review(conn, session_id)
