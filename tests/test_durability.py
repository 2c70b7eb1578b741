"""Acknowledged means durable: `kill -9` mid-stream loses no acked event, a restart resumes the
seq where storage left it, and SIGTERM drains everything and exits 0. A real server process."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support import ADMIN_TOKEN, TS, ServerProcess

pytestmark = pytest.mark.anyio
SESSIONS = 8
EVENTS = 400


def create_sessions(server: ServerProcess, count: int) -> list[tuple[str, str]]:
    made = []
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as client:
        for index in range(count):
            body = {
                "candidateEmail": f"c{index}@example.com",
                "candidateName": f"C{index}",
                "assessmentId": "exam",
            }
            response = client.post("/candidate-sessions", json=body)
            assert response.status_code == 201, response.text
            made.append((response.json()["id"], response.json()["candidateToken"]))
    return made


def stored_seqs(storage: Path, session_id: str) -> list[int]:
    with sqlite3.connect(storage / "vigil.db") as db:
        rows = db.execute(
            "SELECT seq FROM event_log WHERE session_id = ? AND seq IS NOT NULL ORDER BY event_offset",
            (session_id,),
        ).fetchall()
    return [row[0] for row in rows]


async def stream(
    server: ServerProcess, session_id: str, token: str, acked: dict[str, int], first: int = 1
) -> None:
    """Send seq first..EVENTS as fast as the socket takes them, recording the highest ack."""
    try:
        async with connect(f"{server.ws_url}/ws/candidate/{session_id}?token={token}") as ws:

            async def read_acks() -> None:
                async for raw in ws:
                    message = json.loads(raw)
                    assert message["type"] != "error", message
                    if message["type"] == "ack":
                        acked[session_id] = max(acked.get(session_id, 0), message["seq"])

            async with anyio.create_task_group() as tg:
                tg.start_soon(read_acks)
                for seq in range(first, EVENTS + 1):
                    kind = "tab_switch_detected" if seq % 50 == 0 else "heartbeat"
                    await ws.send(
                        json.dumps({"type": kind, "seq": seq, "ts": TS, "data": {"n": seq}})
                    )
                with anyio.fail_after(30):
                    while acked.get(session_id, 0) < EVENTS:
                        await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
    except* (ConnectionClosed, OSError):
        pass  # the server was killed or stopped under us


def stored_types(storage: Path, session_id: str) -> list[str]:
    with sqlite3.connect(storage / "vigil.db") as db:
        rows = db.execute(
            "SELECT type FROM event_log WHERE session_id = ? ORDER BY event_offset", (session_id,)
        ).fetchall()
    return [row[0] for row in rows]


async def stop_mid_stream(
    process: ServerProcess, sessions: list[tuple[str, str]], stop: Callable[[], object]
) -> dict[str, int]:
    """Stream every session; once a third of all events are acked, run `stop` (in a thread) with
    events in flight. Return the highest ack each session had received by then."""
    acked: dict[str, int] = {}
    async with anyio.create_task_group() as tg:
        for session_id, token in sessions:
            tg.start_soon(stream, process, session_id, token, acked)
        with anyio.fail_after(30):
            while sum(acked.values()) < SESSIONS * EVENTS // 3:
                await anyio.sleep(0.005)
        with anyio.fail_after(30):
            await anyio.to_thread.run_sync(stop)
        return dict(acked)


async def test_kill_9_loses_no_acknowledged_event(process: ServerProcess) -> None:
    sessions = create_sessions(process, SESSIONS)
    snapshot = await stop_mid_stream(process, sessions, process.kill)
    assert 0 < sum(snapshot.values()) < SESSIONS * EVENTS
    for session_id, _ in sessions:
        seqs = stored_seqs(process.storage, session_id)
        highest = snapshot.get(session_id, 0)
        assert seqs[:highest] == list(range(1, highest + 1)), f"acked events lost in {session_id}"
        assert seqs == list(range(1, len(seqs) + 1))  # stored in order, no gap, no duplicate

    # Restart: each client resumes from its last ack; duplicates are acked, never stored twice.
    stored_seqs_before = {
        session_id: stored_seqs(process.storage, session_id) for session_id, _ in sessions
    }
    process.start()
    resumed: dict[str, int] = {}
    async with anyio.create_task_group() as tg:
        for session_id, token in sessions:
            tg.start_soon(
                stream, process, session_id, token, resumed, snapshot.get(session_id, 0) + 1
            )
    for session_id, _ in sessions:
        assert resumed[session_id] == EVENTS
        assert stored_seqs(process.storage, session_id) == list(range(1, EVENTS + 1))
        types = stored_types(process.storage, session_id)
        # The restart recorded the disconnection the crash could not, right after the last stored
        # event (a session with nothing stored before the kill left no trace of its connection).
        if stored_seqs_before[session_id]:
            assert types[len(stored_seqs_before[session_id])] == "user_disconnected"


async def test_sigterm_commits_every_accepted_event_and_exits_0(process: ServerProcess) -> None:
    sessions = create_sessions(process, SESSIONS)
    exit_codes: list[int] = []
    snapshot = await stop_mid_stream(
        process, sessions, lambda: exit_codes.append(process.terminate())
    )
    assert exit_codes == [0]
    log = process.log.read_text()
    assert "every accepted event is committed" in log, log
    for session_id, _ in sessions:
        seqs = stored_seqs(process.storage, session_id)
        assert seqs[: snapshot.get(session_id, 0)] == list(
            range(1, snapshot.get(session_id, 0) + 1)
        )
        if len(seqs) < EVENTS:
            # The shutdown closed an unfinished session's socket: that is a disconnection.
            assert stored_types(process.storage, session_id)[-1] == "user_disconnected"
