"""The `biometrics` table's rows: a session's face embeddings, sealed with its data key and kept
in place (one row per session). Written by the journal, in queue order with the events, so the
`identity_enrolled` that relies on a reference is never committed before it."""

from __future__ import annotations

from typing import Final

from actors.ports import BiometricsEntry
from app.storage.sealing.rows import seal_biometrics
from app.storage.transaction import Transaction, Writes

_UPSERT: Final = (
    "INSERT INTO biometrics (session_id, sealed, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (session_id) DO UPDATE SET sealed = excluded.sealed, "
    "updated_at = excluded.updated_at"
)


class BiometricsStep(Writes):
    kinds = (BiometricsEntry,)

    def write(self, tx: Transaction, ops: list[BiometricsEntry]) -> None:
        latest: dict[str, bytes] = {}
        for op in ops:
            latest[op.session_id] = op.biometrics  # the last in the batch wins
        rows = []
        for session_id, biometrics in latest.items():
            cipher = tx.cipher_for(session_id)
            if cipher is not None:  # erased meanwhile: nothing to keep
                rows.append((session_id, seal_biometrics(cipher, biometrics), tx.now))
        if rows:
            tx.conn.executemany(_UPSERT, rows)

    async def committed(self, ops: list[BiometricsEntry]) -> None:
        return None  # nobody waits: the event stored after it is what is acknowledged
