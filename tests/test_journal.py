"""The journal: group commit, the flush barrier, and the session state rows it is told to write."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from actors.events import StoredEvent, iso_ms
from actors.ports import EventEntry, StateEntry
from actors.state import SessionState
from app.storage.journal import SessionRow, SqliteJournal
from app.storage.sealing.data_keys import DataKeys, MasterKeys
from app.telemetry.metrics import Metrics
from tests.support import TEST_MASTER_KEY, eventually

pytestmark = pytest.mark.anyio


def state(
    session_id: str, offset: int, status: str = "IN_PROGRESS", connected: bool = True
) -> SessionState:
    return SessionState(
        sessionId=session_id, assessmentId="a", candidateName="n", status=status,  # type: ignore[arg-type]
        connected=connected, verificationScore=100, trustLevel="HIGH", riskScore=0.0, riskLevel="low",
        violationCount=0, lastEventAt=None, lastOffset=offset,
    )  # fmt: skip


def entry(session_id: str, offset: int, **fields: object) -> EventEntry:
    store_state = bool(fields.pop("store_state", False))
    return EventEntry(
        session_id=session_id,
        assessment_id="a",
        event=StoredEvent(
            type="heartbeat", offset=offset, ts="2026-11-22T10:00:00.000Z", seq=offset
        ),
        state=state(session_id, offset, **fields),  # type: ignore[arg-type]
        violations=[],
        store_state=store_state,
    )


def stored_state(path: Path, session_id: str) -> int:
    with sqlite3.connect(path) as db:
        return int(
            db.execute("SELECT last_offset FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
        )


async def test_group_commit_acks_after_commit_and_writes_the_states_it_is_told(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vigil.db"
    committed: list[int] = []
    metrics = Metrics()
    journal = SqliteJournal(
        path, keystore=tmp_path / "keys.db", keys=DataKeys(MasterKeys(TEST_MASTER_KEY)),
        synchronous="NORMAL", queue_size=1000, max_batch=500,
        on_committed=lambda entries: committed.extend(e.event.offset for e in entries),
        metrics=metrics,
    )  # fmt: skip
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        row = SessionRow(
            id="s", assessment_id="a", candidate_name="n", candidate_email="e", candidate_phone=None,
            token_hash="h", ip_address=None, user_agent=None, start_time=iso_ms(datetime.now(UTC)),
            status="IN_PROGRESS", state=msgspec.json.encode(state("s", 0, connected=False)), created_at="t",
        )  # fmt: skip
        await journal.create_session(row)
        await journal.append(entry("s", 1, store_state=True))
        for offset in range(2, 301):
            await journal.append(entry("s", offset))
        await journal.flush()
        assert committed == list(range(1, 301))
        assert metrics.journal_batches < 300  # many events per transaction
        assert stored_state(path, "s") == 1  # the actor decides when (actors/stored_state.py)
        await journal.append(entry("s", 301))
        await journal.append(entry("s", 302, status="COMPLETED", store_state=True))
        await journal.append(entry("s", 303, status="COMPLETED"))
        with anyio.fail_after(5):
            while committed[-1] != 303:
                await anyio.sleep(0.01)
        assert stored_state(path, "s") == 302  # written with the event that carried it
        await journal.append(StateEntry(session_id="s", offset=303, state=state("s", 303)))
        await journal.close()
        tg.cancel_scope.cancel()
    assert stored_state(path, "s") == 303  # a state without an event: the actor's last


async def test_the_wal_starts_over_under_a_steady_stream_of_commits(tmp_path: Path) -> None:
    """A checkpointer beside a busy writer never copies the whole WAL back by itself, and SQLite
    only starts the WAL over once it has: the file grew without end under steady load."""
    path = tmp_path / "vigil.db"
    wal = tmp_path / "vigil.db-wal"
    journal = SqliteJournal(
        path, keystore=tmp_path / "keys.db", keys=DataKeys(MasterKeys(TEST_MASTER_KEY)),
        synchronous="NORMAL", queue_size=1000, max_batch=500, on_committed=lambda entries: None,
        metrics=Metrics(), checkpoint_interval=0.02, wal_restart_pages=256,
    )  # fmt: skip
    sessions = [f"s{i}" for i in range(20)]
    largest = 0
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        for session_id in sessions:
            row = SessionRow(
                id=session_id, assessment_id="a", candidate_name="n", candidate_email="e",
                candidate_phone=None, token_hash="h", ip_address=None, user_agent=None,
                start_time="t", status="IN_PROGRESS",
                state=msgspec.json.encode(state(session_id, 0)), created_at="t",
            )  # fmt: skip
            await journal.create_session(row)
        written = 0
        for offset in range(1, 151):
            for session_id in sessions:
                await journal.append(entry(session_id, offset, store_state=True))
                await journal.flush()  # one commit each: the writer never pauses for long
                written += 1
                largest = max(largest, wal.stat().st_size)
        await journal.close()
        tg.cancel_scope.cancel()
    assert written == 3000
    # 3,000 commits of a few 4 KiB pages each: 25-40 MB of WAL if it never starts over.
    assert largest < 8 * 2**20, f"the WAL grew to {largest / 2**20:.1f} MiB"


def journal_at(tmp_path: Path, synchronous: str, **options: object) -> SqliteJournal:
    return SqliteJournal(
        tmp_path / "vigil.db", keystore=tmp_path / "keys.db",
        keys=DataKeys(MasterKeys(TEST_MASTER_KEY)), synchronous=synchronous, queue_size=1000,
        max_batch=500, on_committed=lambda entries: None, metrics=Metrics(), **options,  # type: ignore[arg-type]
    )  # fmt: skip


def session_row(session_id: str) -> SessionRow:
    return SessionRow(
        id=session_id, assessment_id="a", candidate_name="n", candidate_email="e",
        candidate_phone=None, token_hash="h", ip_address=None, user_agent=None,
        start_time=iso_ms(datetime.now(UTC)), status="IN_PROGRESS",
        state=msgspec.json.encode(state(session_id, 0, connected=False)), created_at="t",
    )  # fmt: skip


def record_writer_threads(journal: SqliteJournal) -> list[bool]:
    """Whether each transaction ran on the event loop's thread."""
    loop_thread = threading.get_ident()
    on_loop: list[bool] = []
    write = journal._transaction

    def recording(*args: Any) -> None:
        on_loop.append(threading.get_ident() == loop_thread)
        write(*args)

    journal._transaction = recording  # type: ignore[method-assign]
    return on_loop


async def test_commits_that_do_not_sync_run_on_the_loop_and_key_writes_in_a_thread(
    tmp_path: Path,
) -> None:
    journal = journal_at(tmp_path / "normal", "NORMAL")
    on_loop = record_writer_threads(journal)
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        await journal.create_session(session_row("s"))  # stores a data key: synced, in a thread
        await journal.append(entry("s", 1, store_state=True))
        await journal.flush()
        await journal.close()
    assert on_loop[0] is False
    assert on_loop[1:] and all(on_loop[1:])
    assert stored_state(tmp_path / "normal" / "vigil.db", "s") == 1

    journal = journal_at(tmp_path / "full", "FULL")
    on_loop = record_writer_threads(journal)
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        await journal.create_session(session_row("s"))
        await journal.append(entry("s", 1))
        await journal.flush()
        await journal.close()
    assert on_loop and not any(on_loop)  # FULL syncs every commit: never on the loop


async def test_a_commit_on_the_loop_runs_at_once_while_the_connection_is_free(
    tmp_path: Path,
) -> None:
    journal = journal_at(tmp_path, "NORMAL")
    database = tmp_path / "vigil.db"
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        await journal.create_session(session_row("s"))
        commit = journal._write(journal._plan([entry("s", 1)]))
        try:
            commit.send(None)
        except StopIteration:
            pass  # done in one step: nothing else ran before it
        else:
            pytest.fail("the commit yielded to the event loop before writing")
        assert stored_offsets(database) == [1]

        await journal._thread.acquire()  # another user of the connection, e.g. a checkpoint
        tg.start_soon(journal._write, journal._plan([entry("s", 2)]))
        await anyio.sleep(0.05)
        assert stored_offsets(database) == [1]
        journal._thread.release()
        with anyio.fail_after(5):
            while stored_offsets(database) != [1, 2]:
                await anyio.sleep(0.01)
        await journal.close()


def stored_offsets(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT event_offset FROM events ORDER BY 1")]
    finally:
        conn.close()


async def test_a_commit_interval_gathers_events_into_one_transaction(tmp_path: Path) -> None:
    metrics = Metrics()
    journal = journal_at(tmp_path, "NORMAL", commit_interval=0.2)
    journal._metrics = metrics
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        await journal.create_session(session_row("s"))
        before = metrics.journal_batches
        started = anyio.current_time()
        await journal.append(entry("s", 1))
        # The writer took it and waits out the interval that began with create_session's
        # commit: the next one arrives inside it (a condition, not a sleep that a loaded box
        # can stretch past the interval).
        await eventually(lambda: journal.queue_depth == 0)
        await journal.append(entry("s", 2, store_state=True))
        await journal.flush()
        waited = anyio.current_time() - started
        await journal.close()
    assert metrics.journal_batches - before == 1  # both events, one transaction
    assert 0.1 <= waited < 1.0
    assert stored_state(tmp_path / "vigil.db", "s") == 2


async def test_the_journal_connection_keeps_its_configured_page_cache(tmp_path: Path) -> None:
    journal = journal_at(tmp_path, "NORMAL", cache_mb=48)
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        assert journal._conn is not None
        assert journal._conn.execute("PRAGMA cache_size").fetchone()[0] == -48 * 1024
        await journal.close()
