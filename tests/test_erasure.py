"""DELETE /candidate-sessions/:id: the right to erasure, down to the bytes of the database files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN, RunningServer

pytestmark = pytest.mark.anyio
NAME_MARKER = "Zebulon Erasure-Marker"
DATA_MARKER = "pii-marker-7731"


def files_contain(storage: Path, marker: str) -> list[str]:
    needle = marker.encode()
    return [path.name for path in storage.glob("vigil.db*") if needle in path.read_bytes()]


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
            assert files_contain(storage, DATA_MARKER) and files_contain(storage, NAME_MARKER)

            response = await client.delete(f"/candidate-sessions/{doomed}")
            assert response.status_code == 204 and response.content == b""
            assert await candidate.closed_code() == 4404

            assert (await client.get(f"/candidate-sessions/{doomed}")).status_code == 404
            assert (await client.delete(f"/candidate-sessions/{doomed}")).status_code == 404
            assert [s["id"] for s in (await client.get("/candidate-sessions")).json()] == [kept]
            kept_body = (await client.get(f"/candidate-sessions/{kept}")).json()
            assert kept_body["candidateName"] == "Kept Candidate"
            assert kept_body["state"]["violationCount"] == 1
    assert files_contain(storage, DATA_MARKER) == []
    assert files_contain(storage, NAME_MARKER) == []
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
