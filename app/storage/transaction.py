"""The one interface between the journal's writer and what it writes.

The writer (`app/storage/journal.py`) owns the queue, the batching and the transaction; it knows
no table. Each type of operation is owned by the module that defines it, through a `Step`: what
to do in the keystore before the transaction, what to write inside it, and what to do once it is
committed. The writer runs its steps (`SqliteJournal._steps`) in their order, each with the
operations of its kinds in queue order."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.storage.sealing.data_keys import SessionCipher
from app.storage.sealing.keyring import KeyRing


@dataclass(frozen=True, slots=True)
class Transaction:
    """One open write transaction on the journal's connection."""

    conn: sqlite3.Connection
    now: str  # the server's clock, ISO 8601 to the millisecond, for `created_at`/`updated_at`
    cipher_for: Callable[[str], SessionCipher | None]  # None: the session was erased


class Step(Protocol):
    """What the writer does with the operations of `kinds` in one batch (never an empty list)."""

    @property
    def kinds(self) -> tuple[type[Any], ...]: ...

    @property
    def syncs_keys(self) -> bool:
        """Its `prepare` writes the keystore, which syncs: the transaction runs in a thread."""

    def prepare(self, keys: KeyRing, ops: list[Any]) -> None:
        """Before the transaction, in the writer's thread: keystore writes."""

    def write(self, tx: Transaction, ops: list[Any]) -> None:
        """Inside the transaction; raising rolls the whole batch back (the writer retries)."""

    async def committed(self, ops: list[Any]) -> None:
        """Once the transaction is committed: answer whoever waits."""


class Writes:
    """Defaults for a `Step` that writes no keys and answers nobody but its waiters."""

    syncs_keys = False

    def prepare(self, keys: KeyRing, ops: list[Any]) -> None:
        return None

    async def committed(self, ops: list[Any]) -> None:
        for op in ops:
            op.done.set()
