"""The journal: group commit, the flush barrier, and when session state rows are written."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import pytest

from actors.events import StoredEvent, iso_ms
from actors.ports import EventEntry
from actors.state import SessionState
from app.data_keys import DataKeys, MasterKeys
from app.journal import SessionRow, SqliteJournal
from app.metrics import Metrics
from tests.support import TEST_MASTER_KEY

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
    changed = bool(fields.pop("changed", False))
    return EventEntry(
        session_id=session_id,
        assessment_id="a",
        event=StoredEvent(
            type="heartbeat", offset=offset, ts="2026-11-22T10:00:00.000Z", seq=offset
        ),
        state=state(session_id, offset, **fields),  # type: ignore[arg-type]
        violations=[],
        state_changed=changed,
    )


def stored_state(path: Path, session_id: str) -> int:
    with sqlite3.connect(path) as db:
        return int(
            db.execute("SELECT last_offset FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
        )


async def test_group_commit_acks_after_commit_and_throttles_state_rows(tmp_path: Path) -> None:
    path = tmp_path / "vigil.db"
    committed: list[int] = []
    metrics = Metrics()
    journal = SqliteJournal(
        path, keystore=tmp_path / "keys.db", keys=DataKeys(MasterKeys(TEST_MASTER_KEY)),
        synchronous="NORMAL", queue_size=1000, max_batch=500,
        on_committed=lambda entries: committed.extend(e.event.offset for e in entries),
        metrics=metrics, state_interval=3600,
    )  # fmt: skip
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        row = SessionRow(
            id="s", assessment_id="a", candidate_name="n", candidate_email="e", candidate_phone=None,
            token_hash="h", ip_address=None, user_agent=None, start_time=iso_ms(datetime.now(UTC)),
            status="IN_PROGRESS", state=msgspec.json.encode(state("s", 0, connected=False)), created_at="t",
        )  # fmt: skip
        await journal.create_session(row)
        await journal.append(entry("s", 1, changed=True))  # the first state is written at once
        for offset in range(2, 301):
            await journal.append(entry("s", offset))
        await journal.flush()
        assert committed == list(range(1, 301))
        assert metrics.journal_batches < 300  # many events per transaction
        assert stored_state(path, "s") == 300  # flush wrote the pending state
        await journal.append(entry("s", 301))
        await journal.append(entry("s", 302, status="COMPLETED", changed=True))
        await journal.append(entry("s", 303, status="COMPLETED"))
        with anyio.fail_after(5):
            while committed[-1] != 303:
                await anyio.sleep(0.01)
        assert stored_state(path, "s") >= 302  # a status change is written with its event
        await journal.close()
        tg.cancel_scope.cancel()
    assert stored_state(path, "s") == 303  # close wrote what was pending


async def test_the_wal_starts_over_under_a_steady_stream_of_commits(tmp_path: Path) -> None:
    """A checkpointer beside a busy writer never copies the whole WAL back by itself, and SQLite
    only starts the WAL over once it has: the file grew without end under steady load."""
    path = tmp_path / "vigil.db"
    wal = tmp_path / "vigil.db-wal"
    journal = SqliteJournal(
        path, keystore=tmp_path / "keys.db", keys=DataKeys(MasterKeys(TEST_MASTER_KEY)),
        synchronous="NORMAL", queue_size=1000, max_batch=500, on_committed=lambda entries: None,
        metrics=Metrics(), state_interval=0.0, checkpoint_interval=0.02, wal_restart_pages=256,
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
                await journal.append(entry(session_id, offset, changed=True))
                await journal.flush()  # one commit each: the writer never pauses for long
                written += 1
                largest = max(largest, wal.stat().st_size)
        await journal.close()
        tg.cancel_scope.cancel()
    assert written == 3000
    # 3,000 commits of a few 4 KiB pages each: 25-40 MB of WAL if it never starts over.
    assert largest < 8 * 2**20, f"the WAL grew to {largest / 2**20:.1f} MiB"
