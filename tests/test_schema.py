"""The SQLite schema: version 1 databases are migrated, and event ids are never reused (the Kafka
mirror's cursor depends on it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.storage.schema import PLAINTEXT_VERSION, SCHEMA_VERSION, open_database, schema_version
from app.storage.sealing.data_keys import DataKeys, MasterKeys
from app.storage.sealing.keystore import open_keystore
from app.storage.sealing.migration import seal_plaintext_database
from app.storage.sealing.rows import open_event_data, open_identity, open_snapshot
from tests.support import TEST_MASTER_KEY

V1_EVENTS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE sessions (
    key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, assessment_id TEXT NOT NULL,
    candidate_name TEXT NOT NULL, candidate_email TEXT NOT NULL, candidate_phone TEXT,
    token_hash TEXT NOT NULL, ip_address TEXT, user_agent TEXT, start_time TEXT NOT NULL,
    end_time TEXT, status TEXT NOT NULL, last_offset INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, session_key INTEGER NOT NULL REFERENCES sessions (key),
    event_offset INTEGER NOT NULL, seq INTEGER, type TEXT NOT NULL, ts TEXT NOT NULL,
    question_id TEXT, origin TEXT NOT NULL, data TEXT
);
CREATE UNIQUE INDEX events_by_session ON events (session_key, event_offset);
CREATE VIEW event_log AS
    SELECT s.id AS session_id, e.event_offset, e.seq, e.type, e.ts, e.question_id, e.origin, e.data
    FROM events AS e JOIN sessions AS s ON s.key = e.session_key;
INSERT INTO sessions (id, assessment_id, candidate_name, candidate_email, token_hash, start_time,
    status, state, created_at, updated_at)
    VALUES ('s1', 'exam', 'Ada Lovelace', 'ada@example.com', 'h', 't', 'IN_PROGRESS',
            '{"sessionId":"s1","candidateName":"Ada Lovelace"}', 't', 't');
INSERT INTO events (session_key, event_offset, seq, type, ts, origin, data)
    VALUES (1, 1, 1, 'assessment_started', 't', 'candidate', NULL),
           (1, 2, 2, 'device_info', 't', 'candidate', '{"ipAddress":"203.0.113.9"}');
"""


def test_a_version_1_database_is_migrated_with_its_events(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    with sqlite3.connect(path) as old:
        old.executescript(V1_EVENTS)
    conn = open_database(path, "NORMAL")
    try:
        assert schema_version(conn) == PLAINTEXT_VERSION
        rows = conn.execute("SELECT session_id, event_offset, type FROM event_log").fetchall()
        assert rows == [("s1", 1, "assessment_started"), ("s1", 2, "device_info")]
        # The newest row deleted (an erasure), a new event still gets a new id.
        conn.execute("DELETE FROM events WHERE id = 2")
        conn.execute(
            "INSERT INTO events (session_key, event_offset, type, ts, origin) "
            "VALUES (1, 2, 'device_info', 't', 'candidate')"
        )
        assert conn.execute("SELECT max(id) FROM events").fetchone() == (3,)
    finally:
        conn.close()


def test_opening_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    open_database(path, "NORMAL").close()
    conn = open_database(path, "NORMAL")
    try:
        assert conn.execute("SELECT count(*) FROM meta").fetchone() == (1,)
    finally:
        conn.close()


def test_version_3_plain_text_is_sealed_with_a_data_key_per_session(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    with sqlite3.connect(path) as old:
        old.executescript(V1_EVENTS)
    conn = open_database(path, "NORMAL")
    conn.execute(
        "INSERT INTO snapshots (session_id, event_offset, state) VALUES ('s1', 2, '{\"ip\":1}')"
    )
    keys_conn = open_keystore(tmp_path / "keys.db")
    keys = DataKeys(MasterKeys(TEST_MASTER_KEY))
    try:
        assert seal_plaintext_database(conn, keys_conn, keys)
        assert schema_version(conn) == SCHEMA_VERSION
        assert not seal_plaintext_database(conn, keys_conn, keys)  # once only
        identity, state = conn.execute("SELECT identity, state FROM sessions").fetchone()
        master_id, wrapped = keys_conn.execute(
            "SELECT master_id, wrapped FROM data_keys WHERE session_id = 's1'"
        ).fetchone()
        cipher = DataKeys(MasterKeys(TEST_MASTER_KEY)).cipher("s1", master_id, wrapped)
        assert open_identity(cipher, identity).candidateEmail == "ada@example.com"
        assert "Ada Lovelace" not in state
        (data,) = conn.execute("SELECT data FROM events WHERE event_offset = 2").fetchone()
        assert open_event_data(cipher, 2, data) == b'{"ipAddress":"203.0.113.9"}'
        (snapshot,) = conn.execute("SELECT state FROM snapshots").fetchone()
        assert open_snapshot(cipher, snapshot) == b'{"ip":1}'
    finally:
        conn.close()
        keys_conn.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("vigil.db*"))
    assert b"ada@example.com" not in raw and b"203.0.113.9" not in raw
    assert b"Ada Lovelace" not in raw
