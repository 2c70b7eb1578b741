"""The keystore: `<storage>/keys.db`, one wrapped data key per session, in a SQLite file of its
own. The journal's thread is its one writer; readers attach it to their connection.

It is a separate file so that data backups and key backups can be kept apart: erasing a session
deletes its row here, and from then on every copy of its data, in any backup of `vigil.db` or
of the frames, is unreadable once the keystore's own older copies are gone (keep those short).
Writes use `synchronous=FULL`: a data key is on disk before anything sealed with it is, even
across a power cut, so acknowledged data never outlives the key that opens it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from app.storage.sealing.data_keys import (
    RETIRED_KEYS_ENV,
    DataKeys,
    KeyConfigError,
    MasterKeys,
    SessionCipher,
)

KEYSTORE_FILE: Final = "keys.db"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS data_keys (
    session_id TEXT PRIMARY KEY,
    master_id TEXT NOT NULL,          -- which master key wrapped it (MasterKey.id)
    wrapped BLOB NOT NULL,            -- nonce || AES-GCM(master key, data key)
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS data_keys_by_master ON data_keys (master_id);
"""


def keystore_path(storage_dir: Path) -> Path:
    return storage_dir / KEYSTORE_FILE


def open_keystore(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA secure_delete=ON")
    conn.executescript(_SCHEMA)
    return conn


def store_keys(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, bytes, str]]) -> None:
    """Commit new data keys (session, master id, wrapped, created at). A session that already
    has one keeps it: a retried creation must not orphan what the first key sealed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO data_keys (session_id, master_id, wrapped, created_at) "
            "VALUES (?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def load_cipher(conn: sqlite3.Connection, keys: DataKeys, session_id: str) -> SessionCipher | None:
    """The session's cipher (cached, or unwrapped from the keystore); None if it has no key."""
    cipher = keys.cached(session_id)
    if cipher is not None:
        return cipher
    row = conn.execute(
        "SELECT master_id, wrapped FROM data_keys WHERE session_id = ?", (session_id,)
    ).fetchone()
    return None if row is None else keys.cipher(session_id, row[0], row[1])


def destroy_keys(conn: sqlite3.Connection, keys: DataKeys, session_ids: list[str]) -> None:
    """Crypto-erasure: delete the sessions' data keys and leave no copy in the WAL."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "DELETE FROM data_keys WHERE session_id = ?", [(sid,) for sid in session_ids]
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for session_id in session_ids:
        keys.forget(session_id)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def rewrap_retired(conn: sqlite3.Connection, keys: DataKeys, limit: int) -> int:
    """Re-wrap up to `limit` data keys held under a retired master key with the current one;
    how many were."""
    retired = list(keys.master.retired)
    if not retired:
        return 0
    marks = ",".join("?" * len(retired))
    rows = conn.execute(
        f"SELECT session_id, master_id, wrapped FROM data_keys WHERE master_id IN ({marks}) "
        "LIMIT ?",
        (*retired, limit),
    ).fetchall()
    updates = []
    for session_id, master_id, wrapped in rows:
        data_key = keys.master.unwrap(session_id, master_id, wrapped)
        new_id, new_wrapped = keys.master.wrap(session_id, data_key)
        updates.append((new_id, new_wrapped, session_id, master_id))
    if updates:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "UPDATE data_keys SET master_id = ?, wrapped = ? "
                "WHERE session_id = ? AND master_id = ?",
                updates,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(updates)


def keys_by_master(conn: sqlite3.Connection) -> dict[str, int]:
    """How many data keys each master key wraps."""
    return {
        str(master_id): int(count)
        for master_id, count in conn.execute(
            "SELECT master_id, count(*) FROM data_keys GROUP BY master_id"
        )
    }


def check_master_keys(conn: sqlite3.Connection, master: MasterKeys) -> None:
    """Refuse master keys that leave some data keys unopenable (at start, or on a reload)."""
    unknown = {
        master_id: count
        for master_id, count in keys_by_master(conn).items()
        if not master.known(master_id)
    }
    if unknown:
        listed = ", ".join(
            f"{master_id} ({count} sessions)" for master_id, count in unknown.items()
        )
        raise KeyConfigError(
            f"data keys in the keystore are wrapped by master keys that were not given: {listed}. "
            f"Set VIGIL_MASTER_KEY to the key in use, and put earlier ones in {RETIRED_KEYS_ENV}"
        )
