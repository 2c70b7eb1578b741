"""The SQLite schema, created or migrated when the journal opens the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from app.storage.review_rows import REVIEWS_TABLE

SCHEMA_VERSION: Final = 4
# Version 3 kept personal data in plain text; app/storage/sealing/migration.py seals it (needs the keys).
PLAINTEXT_VERSION: Final = 3
DATABASE_FILE: Final = "vigil.db"


# Pieces the 3 -> 4 migration (app/storage/sealing/migration.py) also runs, one statement each.
def sessions_table(name: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    key INTEGER PRIMARY KEY,          -- compact key the events refer to
    id TEXT NOT NULL UNIQUE,          -- the public session id
    assessment_id TEXT NOT NULL,
    -- Name, e-mail, phone, IP address and user agent (msgspec JSON), sealed with the session's
    -- data key (app/storage/sealing/data_keys.py); `state` has the name blanked.
    identity BLOB NOT NULL,
    token_hash TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time TEXT,
    status TEXT NOT NULL,
    last_offset INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,              -- SessionState JSON as of last_offset (derived data)
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""


SESSIONS_INDEXES: Final = (
    "CREATE INDEX IF NOT EXISTS sessions_by_assessment ON sessions (assessment_id)",
    "CREATE INDEX IF NOT EXISTS sessions_by_token ON sessions (token_hash)",
)
EVENT_LOG_VIEW: Final = """
CREATE VIEW IF NOT EXISTS event_log AS
    SELECT s.id AS session_id, e.event_offset, e.seq, e.type, e.ts, e.question_id, e.origin, e.data
    FROM events AS e JOIN sessions AS s ON s.key = e.session_key
"""

_SCHEMA: Final = (
    """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
{sessions}
{sessions_indexes}
-- Append-only, in commit order. A table clustered by (session, offset) cost 110-180 us per event
-- at 200k rows, because a thousand interleaved sessions dirty a page per event; appending rows
-- and indexing a compact integer key costs a third of that (docs/architecture.md, "Storage").
CREATE TABLE IF NOT EXISTS events (
    -- AUTOINCREMENT: an id is never reused, even after an erasure deleted the newest rows, so
    -- the Kafka mirror's cursor (the last id it published) never skips a later event.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_key INTEGER NOT NULL REFERENCES sessions (key),
    event_offset INTEGER NOT NULL,    -- per session, gapless, 1-based
    seq INTEGER,                      -- the candidate's seq; NULL for server-made events
    type TEXT NOT NULL,
    ts TEXT NOT NULL,
    question_id TEXT,
    origin TEXT NOT NULL,
    data TEXT                         -- JSON sealed with the session's data key, in base64
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_session ON events (session_key, event_offset);
{event_log}
CREATE TABLE IF NOT EXISTS assessments (
    id TEXT PRIMARY KEY,
    definition TEXT NOT NULL,         -- actors.grading.Assessment JSON; never changed
    created_at TEXT NOT NULL
);
-- Requests made with an Idempotency-Key, written in the transaction of what they changed, so a
-- retry after any crash finds them. The answer is derived again from what they point to, except
-- where it cannot be (a created session's token): then `response` holds it.
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,              -- who asked: the hash of their token
    key TEXT NOT NULL,                -- the Idempotency-Key header
    request TEXT NOT NULL,            -- method, path and body hash: the key names this request
    status INTEGER NOT NULL,
    session_id TEXT,
    event_offset INTEGER,
    resource_id TEXT,
    response BLOB,                    -- sealed with the session's data key
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_by_session ON idempotency (session_id);
-- Who read or changed session data, append-only: triggers refuse every UPDATE and DELETE, and
-- each row's hash covers the previous row's, so a row removed or altered by hand breaks the chain
-- (GET /audit/verify). Rows name sessions by id and people by role and token id, never by
-- personal data, so they outlive the sessions they mention.
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,              -- role:token id (the first 12 hex of the token's sha256)
    action TEXT NOT NULL,             -- "GET /candidate-sessions/{session_id}", "subscribe", ...
    session_id TEXT,
    status INTEGER,                   -- the HTTP status answered, if a request
    address TEXT,                     -- where from
    detail TEXT,                      -- JSON, if any
    hash TEXT NOT NULL                -- sha256 of the previous row's hash and this row
);
CREATE INDEX IF NOT EXISTS audit_by_session ON audit (session_id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS snapshots (
    session_id TEXT PRIMARY KEY,
    event_offset INTEGER NOT NULL,
    state BLOB NOT NULL               -- SessionSnapshot JSON, sealed with the session's data key
);
-- Face embeddings (biometric data, CONTRACT.md 9.1): the reference and the enrolment candidates
-- of a session, one row replaced in place, sealed with the session's data key.
CREATE TABLE IF NOT EXISTS biometrics (
    session_id TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,             -- actors/identity_desk.py's msgpack, sealed
    updated_at TEXT NOT NULL
);
""".replace("{sessions}", sessions_table("sessions").strip() + ";")
    .replace("{sessions_indexes}", "".join(f"{statement};\n" for statement in SESSIONS_INDEXES))
    .replace("{event_log}", EVENT_LOG_VIEW.strip() + ";")
    + REVIEWS_TABLE  # session verdicts (app/storage/review_rows.py)
)


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 1's events table reused the ids of deleted rows; copy it into one that never does."""
    conn.executescript(
        """
        BEGIN IMMEDIATE;
        DROP VIEW event_log;
        DROP INDEX events_by_session;
        ALTER TABLE events RENAME TO events_v1;
        """
        + _SCHEMA
        + """
        INSERT INTO events SELECT * FROM events_v1;
        DROP TABLE events_v1;
        UPDATE meta SET value = '3' WHERE key = 'schema_version';
        COMMIT;
        """
    )


def schema_version(conn: sqlite3.Connection) -> int:
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return SCHEMA_VERSION if found is None else int(found[0])


def database_path(storage_dir: Path) -> Path:
    return storage_dir / DATABASE_FILE


WAL_SIZE_LIMIT: Final = 64 * 2**20


def open_checkpointer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def open_database(
    path: Path, synchronous: str, *, cache_mb: int | None = None
) -> sqlite3.Connection:
    """Open (creating if needed) the database in WAL mode, in autocommit: callers BEGIN/COMMIT.
    A database older than version 3 is brought to 3 here; from 3 to 4 needs the data keys
    (app/storage/sealing/migration.py), so the journal does it next."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    if cache_mb is not None:
        conn.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
    # Checkpoints run on their own connection and thread (SqliteJournal._checkpoint_forever): an
    # automatic one inside a commit held acks back by 30-60 ms.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    # When the WAL starts over, a file grown past this by a burst is cut back to it.
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    # Erasure (DELETE /candidate-sessions/:id) must leave no trace: deleted content is zeroed.
    conn.execute("PRAGMA secure_delete=ON")
    conn.executescript(_SCHEMA)
    found = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if found is None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
    elif int(found[0]) == 1:
        _migrate_1_to_2(conn)  # the audit table of version 3 is created by _SCHEMA above
    elif int(found[0]) == 2:
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    elif int(found[0]) > SCHEMA_VERSION:
        conn.close()
        raise RuntimeError(
            f"{path} has schema version {found[0]}, newer than this Vigil's {SCHEMA_VERSION}; "
            "run a newer Vigil or restore a backup"
        )
    return conn
