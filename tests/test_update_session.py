"""`PUT /candidate-sessions/:id` (document 001's "Update Session"): the question index is the
candidate's to report; a status is reached the way the server reaches it anyway: pausing,
resuming and terminating are a proctor's interventions, COMPLETED is a submission."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import RunningServer

pytestmark = pytest.mark.anyio


async def put(server: RunningServer, session_id: str, body: Any, token: str | None = None) -> Any:
    client = server.http() if token is None else server.http(token=token)
    async with client:
        return await client.put(f"/candidate-sessions/{session_id}", json=body)


async def stored(server: RunningServer, session_id: str) -> dict[str, Any]:
    async with server.http() as client:
        body: dict[str, Any] = (await client.get(f"/candidate-sessions/{session_id}")).json()
    return body


async def test_the_candidate_reports_its_question_index(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.admin() as admin:
        await admin.subscribe(f"session:{session_id}")
        response = await put(server, session_id, {"currentQuestionIndex": 5}, token=token)
        assert response.status_code == 200
        assert response.json()["currentQuestionIndex"] == 5
        assert response.json()["status"] == "IN_PROGRESS"
        event, _ = await admin.recv_until(lambda m: m["type"] == "event")
        assert event["event"]["type"] == "session_updated"
        assert event["state"]["currentQuestionIndex"] == 5
    # Idempotent: the same index again stores nothing.
    assert (await put(server, session_id, {"currentQuestionIndex": 5})).status_code == 200
    assert (await stored(server, session_id))["state"]["lastOffset"] == 1


async def test_a_proctor_pauses_and_resumes_through_put(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        paused = await put(server, session_id, {"status": "PAUSED"})
        assert paused.status_code == 200 and paused.json()["status"] == "PAUSED"
        told, _ = await candidate.recv_until(lambda m: m["type"] == "pause")
        assert told["reason"] == "proctor"
        resumed = await put(server, session_id, {"status": "IN_PROGRESS"})
        assert resumed.json()["status"] == "IN_PROGRESS"
        await candidate.recv_until(lambda m: m["type"] == "resume")
    events = await stored(server, session_id)
    assert events["state"]["warningsIssued"] == 0


async def test_a_candidate_cannot_pause_itself(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    response = await put(server, session_id, {"status": "PAUSED"}, token=token)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert (await stored(server, session_id))["status"] == "IN_PROGRESS"
    assert (await stored(server, session_id))["state"]["lastOffset"] == 0


async def test_completed_is_a_submission(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    done = await put(server, session_id, {"status": "COMPLETED"}, token=token)
    assert done.status_code == 200
    assert done.json()["status"] == "COMPLETED" and done.json()["endTime"] is not None
    # Asking again for the status it has changes nothing; a real second submit is refused.
    assert (await put(server, session_id, {"status": "COMPLETED"})).status_code == 200
    async with server.http() as client:
        again = await client.post(f"/candidate-sessions/{session_id}/submit", json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_submitted"
    assert (await stored(server, session_id))["state"]["lastOffset"] == 1


async def test_a_terminated_session_stays_terminated(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    assert (await put(server, session_id, {"status": "TERMINATED"})).json()["status"] == (
        "TERMINATED"
    )
    for status in ("IN_PROGRESS", "PAUSED", "COMPLETED"):
        response = await put(server, session_id, {"status": status})
        assert response.status_code == 409, (status, response.text)
    assert (await stored(server, session_id))["status"] == "TERMINATED"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "FAILED"}, "status"),
        ({"status": "FINISHED"}, "status"),
        ({"currentQuestionIndex": -1}, "currentQuestionIndex"),
        ({"currentQuestionIndex": "5"}, "currentQuestionIndex"),
        ({}, None),
    ],
)
async def test_bad_updates_are_422_and_change_nothing(
    server: RunningServer, body: dict[str, Any], field: str | None
) -> None:
    session_id, _ = await server.create_session()
    response = await put(server, session_id, body)
    assert response.status_code == 422
    assert response.json()["error"].get("field") == field
    assert (await stored(server, session_id))["state"]["lastOffset"] == 0


async def test_unknown_sessions_and_tokens(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    _, other_token = await server.create_session()
    assert (await put(server, "no-such-session", {"status": "PAUSED"})).status_code == 404
    other = await put(server, session_id, {"currentQuestionIndex": 1}, token=other_token)
    assert other.status_code == 403
    async with server.http(token=None) as client:
        anonymous = await client.put(f"/candidate-sessions/{session_id}", json={})
    assert anonymous.status_code == 401
