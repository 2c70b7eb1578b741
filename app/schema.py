"""The SQLite schema, created or migrated when the journal opens the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

SCHEMA_VERSION: Final = 1
DATABASE_FILE: Final = "vigil.db"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    assessment_id TEXT NOT NULL,
    candidate_name TEXT NOT NULL,
    candidate_email TEXT NOT NULL,
    candidate_phone TEXT,
    token_hash TEXT NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    start_time TEXT NOT NULL,
    end_time TEXT,
    status TEXT NOT NULL,
    last_offset INTEGER NOT NULL DEFAULT 0,
    state BLOB NOT NULL,              -- SessionState JSON as of last_offset
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_assessment ON sessions (assessment_id);
CREATE INDEX IF NOT EXISTS sessions_by_token ON sessions (token_hash);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL,
    event_offset INTEGER NOT NULL,    -- per session, gapless, 1-based
    seq INTEGER,                      -- the candidate's seq; NULL for server-made events
    type TEXT NOT NULL,
    ts TEXT NOT NULL,
    question_id TEXT,
    origin TEXT NOT NULL,
    data BLOB,                        -- JSON
    PRIMARY KEY (session_id, event_offset)
) WITHOUT ROWID;
-- Defence in depth for "an event whose seq was already stored is not stored again".
CREATE UNIQUE INDEX IF NOT EXISTS events_by_seq ON events (session_id, seq) WHERE seq IS NOT NULL;
CREATE TABLE IF NOT EXISTS snapshots (
    session_id TEXT PRIMARY KEY,
    event_offset INTEGER NOT NULL,
    state BLOB NOT NULL               -- SessionSnapshot JSON
);
"""


def database_path(storage_dir: Path) -> Path:
    return storage_dir / DATABASE_FILE


def open_database(path: Path, synchronous: str) -> sqlite3.Connection:
    """Open (creating if needed) the database in WAL mode, in autocommit: callers BEGIN/COMMIT."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(_SCHEMA)
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if found is None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
    elif int(found[0]) > SCHEMA_VERSION:
        conn.close()
        raise RuntimeError(
            f"{path} has schema version {found[0]}, newer than this Vigil's {SCHEMA_VERSION}; "
            "run a newer Vigil or restore a backup"
        )
    return conn
