"""The audit log's rows and their hash chain (the table is in app/storage/schema.py; the journal writes
it through `AuditStep`, the store reads it)."""

from __future__ import annotations

import hashlib
from typing import Any

import anyio
import msgspec

from app.storage.transaction import Transaction, Writes


class AuditRow(msgspec.Struct, frozen=True, kw_only=True):
    """Who did what to which session's data, when, from where."""

    at: str
    actor: str  # "admin:<token id>" or "reviewer:<token id>", or "server" for its own jobs
    action: str
    sessionId: str | None = None
    status: int | None = None
    address: str | None = None
    detail: dict[str, Any] | None = None


class AuditRecord(AuditRow, frozen=True, kw_only=True):
    """A stored row, with its place in the log."""

    id: int


def chain_hash(previous: str, row: AuditRow) -> str:
    """The hash stored with `row`: it covers the previous row's hash, so no row can be removed,
    altered or reordered without breaking every hash after it."""
    return hashlib.sha256(previous.encode() + msgspec.json.encode(row)).hexdigest()


class AppendAudit(msgspec.Struct, frozen=True):
    row: AuditRow
    done: anyio.Event


class AuditStep(Writes):
    """Chains each row to the one before it, in the transaction that stores it."""

    kinds = (AppendAudit,)

    def write(self, tx: Transaction, ops: list[AppendAudit]) -> None:
        found = tx.conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        previous = "" if found is None else str(found[0])
        for op in ops:
            row = op.row
            previous = chain_hash(previous, row)
            tx.conn.execute(
                "INSERT INTO audit (at, actor, action, session_id, status, address, detail, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.at, row.actor, row.action, row.sessionId, row.status, row.address,
                    None if row.detail is None else msgspec.json.encode(row.detail).decode(),
                    previous,
                ),
            )  # fmt: skip
