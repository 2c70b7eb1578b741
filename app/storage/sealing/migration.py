"""Schema 3 to 4: seal what version 3 stored in plain text, once, when the journal opens.

Every session gets a data key (committed to the keystore first: a crash after that keeps the
key for the retry), then one transaction rebuilds `sessions` with the identity sealed and the
name blanked from its state, and seals event data, snapshots and stored answers in place.
`secure_delete` zeroes the plain-text pages this frees. Frames on disk are sealed by the frame
store when it starts (app/storage/frames.py)."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime

from actors.events import iso_ms
from app.storage.schema import (
    EVENT_LOG_VIEW,
    PLAINTEXT_VERSION,
    SCHEMA_VERSION,
    SESSIONS_INDEXES,
    schema_version,
    sessions_table,
)
from app.storage.sealing.data_keys import DataKeys, SessionCipher
from app.storage.sealing.keystore import load_cipher, store_keys
from app.storage.sealing.rows import Identity, blank_name, seal_event_data, seal_identity

log = logging.getLogger("vigil.migration")


def seal_plaintext_database(
    conn: sqlite3.Connection, keys_conn: sqlite3.Connection, keys: DataKeys
) -> bool:
    """Bring a version 3 database to 4; False if it was not version 3."""
    if schema_version(conn) != PLAINTEXT_VERSION:
        return False
    started = time.monotonic()
    session_ids = [str(row[0]) for row in conn.execute("SELECT id FROM sessions")]
    now = iso_ms(datetime.now(UTC))
    new_keys = []
    for session_id in session_ids:
        if load_cipher(keys_conn, keys, session_id) is None:
            _cipher, master_id, wrapped = keys.new(session_id)
            new_keys.append((session_id, master_id, wrapped, now))
    store_keys(keys_conn, new_keys)
    ciphers = {sid: load_cipher(keys_conn, keys, sid) for sid in session_ids}
    conn.execute("BEGIN IMMEDIATE")
    try:
        _rebuild_sessions(conn, ciphers)
        _seal_events(conn, ciphers)
        _seal_snapshots(conn, ciphers)
        _seal_responses(conn, ciphers)
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log.warning(
        "storage: sealed the personal data of %d sessions with their own data keys (schema %d "
        "to %d) in %.1f s",
        len(session_ids),
        PLAINTEXT_VERSION,
        SCHEMA_VERSION,
        time.monotonic() - started,
    )
    return True


def _cipher(ciphers: dict[str, SessionCipher | None], session_id: str) -> SessionCipher:
    cipher = ciphers.get(session_id)
    assert cipher is not None, f"session {session_id} has no data key"
    return cipher


def _rebuild_sessions(conn: sqlite3.Connection, ciphers: dict[str, SessionCipher | None]) -> None:
    conn.execute("DROP VIEW IF EXISTS event_log")
    conn.execute(sessions_table("sessions_v4"))
    rows = conn.execute(
        "SELECT key, id, assessment_id, candidate_name, candidate_email, candidate_phone, "
        "token_hash, ip_address, user_agent, start_time, end_time, status, last_offset, state, "
        "created_at, updated_at FROM sessions"
    ).fetchall()
    for row in rows:
        cipher = _cipher(ciphers, row[1])
        identity = Identity(
            candidateName=row[3],
            candidateEmail=row[4],
            candidatePhone=row[5],
            ipAddress=row[7],
            userAgent=row[8],
        )
        conn.execute(
            "INSERT INTO sessions_v4 (key, id, assessment_id, identity, token_hash, start_time, "
            "end_time, status, last_offset, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row[0], row[1], row[2], seal_identity(cipher, identity), row[6], row[9],
                row[10], row[11], row[12], blank_name(row[13]), row[14], row[15],
            ),
        )  # fmt: skip
    conn.execute("DROP TABLE sessions")
    conn.execute("ALTER TABLE sessions_v4 RENAME TO sessions")
    for statement in (*SESSIONS_INDEXES, EVENT_LOG_VIEW):
        conn.execute(statement)


def _seal_events(conn: sqlite3.Connection, ciphers: dict[str, SessionCipher | None]) -> None:
    rows = conn.execute(
        "SELECT e.id, s.id, e.event_offset, e.data FROM events AS e "
        "JOIN sessions AS s ON s.key = e.session_key WHERE e.data IS NOT NULL"
    ).fetchall()
    conn.executemany(
        "UPDATE events SET data = ? WHERE id = ?",
        [
            (seal_event_data(_cipher(ciphers, sid), offset, data.encode()), event_id)
            for event_id, sid, offset, data in rows
        ],
    )


def _seal_snapshots(conn: sqlite3.Connection, ciphers: dict[str, SessionCipher | None]) -> None:
    rows = conn.execute("SELECT session_id, state FROM snapshots").fetchall()
    sealed = []
    for session_id, state in rows:
        cipher = ciphers.get(session_id)
        if cipher is None:  # a snapshot of a session already erased
            conn.execute("DELETE FROM snapshots WHERE session_id = ?", (session_id,))
            continue
        sealed.append((cipher.seal("snapshot", state.encode()), session_id))
    conn.executemany("UPDATE snapshots SET state = ? WHERE session_id = ?", sealed)


def _seal_responses(conn: sqlite3.Connection, ciphers: dict[str, SessionCipher | None]) -> None:
    rows = conn.execute(
        "SELECT scope, key, session_id, response FROM idempotency WHERE response IS NOT NULL"
    ).fetchall()
    for scope, key, session_id, response in rows:
        cipher = ciphers.get(session_id) if session_id is not None else None
        if cipher is None:
            conn.execute("DELETE FROM idempotency WHERE scope = ? AND key = ?", (scope, key))
            continue
        conn.execute(
            "UPDATE idempotency SET response = ? WHERE scope = ? AND key = ?",
            (cipher.seal("response", response.encode()), scope, key),
        )
