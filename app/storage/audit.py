"""The audit log's rows and their hash chain (the table is in app/storage/schema.py; the journal writes
it, the store reads it)."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec


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
