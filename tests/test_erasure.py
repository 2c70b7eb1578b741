"""DELETE /candidate-sessions/:id: the right to erasure, down to the bytes of the database files.
Personal data is sealed at rest, so what is checked byte by byte is the sealed data and the
session's wrapped data key: neither may survive anywhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.storage.schema import database_path
from app.storage.sealing.keystore import keystore_path
from tests.support import ADMIN_TOKEN, RunningServer

pytestmark = pytest.mark.anyio
NAME_MARKER = "Zebulon Erasure-Marker"
DATA_MARKER = "pii-marker-7731"


def files_contain(storage: Path, marker: str | bytes, pattern: str = "*.db*") -> list[str]:
    needle = marker.encode() if isinstance(marker, str) else marker
    return [path.name for path in storage.glob(pattern) if needle in path.read_bytes()]


def sealed_traces(storage: Path, session_id: str) -> tuple[str, bytes]:
    """One sealed event of the session as stored, and its wrapped data key."""
    with sqlite3.connect(database_path(storage)) as db:
        (data,) = db.execute(
            "SELECT data FROM event_log WHERE session_id = ? AND data IS NOT NULL LIMIT 1",
            (session_id,),
        ).fetchone()
    with sqlite3.connect(keystore_path(storage)) as keys:
        (wrapped,) = keys.execute(
            "SELECT wrapped FROM data_keys WHERE session_id = ?", (session_id,)
        ).fetchone()
    return str(data), bytes(wrapped)


async def test_erasure_leaves_no_trace_and_nothing_else_changes(server: RunningServer) -> None:
    storage = server.settings.storage_dir
    doomed, token = await server.create_session(name=NAME_MARKER)
    kept, kept_token = await server.create_session(name="Kept Candidate")
    async with server.candidate(kept, kept_token) as other:
        await other.event(1, "tab_switch_detected")
        await other.acked(1)
    async with server.candidate(doomed, token) as candidate:
        for seq in range(1, 301):  # enough to reach a snapshot and several pages
            await candidate.event(
                seq, "question_viewed", questionId=f"q{seq % 7}", data={"note": DATA_MARKER}
            )
        await candidate.acked(300)
        async with server.http() as client:
            violation = {"type": "TAB_SWITCH", "severity": "LOW", "description": DATA_MARKER}
            assert (
                await client.post(f"/candidate-sessions/{doomed}/violations", json=violation)
            ).status_code == 201
            await server.services.journal.flush()
            # Sealed at rest: readable through the API only.
            assert files_contain(storage, DATA_MARKER) == []
            assert files_contain(storage, NAME_MARKER) == []
            events = (await client.get(f"/candidate-sessions/{doomed}/events?limit=5")).json()
            assert DATA_MARKER in str(events)
            sealed_event, wrapped_key = sealed_traces(storage, doomed)
            assert files_contain(storage, sealed_event, "vigil.db*")
            assert files_contain(storage, wrapped_key, "keys.db*")

            response = await client.delete(f"/candidate-sessions/{doomed}")
            assert response.status_code == 204 and response.content == b""
            assert await candidate.closed_code() == 4404

            assert (await client.get(f"/candidate-sessions/{doomed}")).status_code == 404
            assert (await client.delete(f"/candidate-sessions/{doomed}")).status_code == 404
            assert [s["id"] for s in (await client.get("/candidate-sessions")).json()] == [kept]
            kept_body = (await client.get(f"/candidate-sessions/{kept}")).json()
            assert kept_body["candidateName"] == "Kept Candidate"
            assert kept_body["state"]["violationCount"] == 1
    assert files_contain(storage, sealed_event) == []
    assert files_contain(storage, wrapped_key) == []
    async with server.candidate(doomed, token) as again:
        assert await again.closed_code() in (4401, 4404)  # its token died with it


async def test_only_an_admin_may_erase(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.http(token=token) as client:
        assert (await client.delete(f"/candidate-sessions/{session_id}")).status_code == 403
    async with server.http(token=None) as client:
        assert (await client.delete(f"/candidate-sessions/{session_id}")).status_code == 401
    async with server.http(token=ADMIN_TOKEN) as client:
        assert (await client.get(f"/candidate-sessions/{session_id}")).status_code == 200
