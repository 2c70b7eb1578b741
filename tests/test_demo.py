"""`POST /demo/sessions`: a session in the demo assessment without the admin token, limited per
address, off when `[demo] enabled = false`, never showing the correct answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import RunningServer, running_server

pytestmark = pytest.mark.anyio


async def test_a_demo_session_is_graded_like_any_other(server: RunningServer) -> None:
    async with server.http(token=None) as anonymous:
        response = await anonymous.post("/demo/sessions", json={"candidateName": "Grace"})
    assert response.status_code == 201, response.text
    demo = response.json()
    assert demo["assessmentId"] == "vigil-demo"
    assert [q["id"] for q in demo["questions"]] == ["q1", "q2", "q3", "q4"]
    assert "Mars" in demo["questions"][0]["choices"]
    assert "correctAnswer" not in response.text  # the answers stay on the server
    session_id, token = demo["sessionId"], demo["candidateToken"]
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "assessment_started")
        await candidate.event(2, "answer_submitted", questionId="q1",
                              data={"response": "Mars", "timeSpent": 4})  # fmt: skip
        await candidate.event(3, "answer_submitted", questionId="q2",
                              data={"response": "144", "timeSpent": 6})  # fmt: skip
        await candidate.event(4, "answer_submitted", questionId="q3",
                              data={"response": "500", "timeSpent": 3})  # fmt: skip
        await candidate.event(5, "assessment_submitted")
        await candidate.acked(5)
    async with server.http() as admin:
        detail = (await admin.get(f"/candidate-sessions/{session_id}")).json()
    assert detail["candidateName"] == "Grace"
    summary = detail["scoreSummary"]
    assert (summary["totalScore"], summary["maxPossibleScore"]) == (2, 4)
    # q4 was not answered, so it scores 0 and waits for nobody: 2 of 4 reach the 50% pass mark.
    assert summary["passStatus"] is True


async def test_demo_sessions_are_limited_per_address(server: RunningServer) -> None:
    burst = server.settings.limits.anonymous_burst
    async with server.http(token=None) as anonymous:
        answers = [
            (await anonymous.post("/demo/sessions", json={})).status_code for _ in range(burst + 1)
        ]
        refused = await anonymous.post("/demo/sessions", json={})
    assert answers[:burst] == [201] * burst
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limited"


async def test_bad_demo_bodies_are_refused(server: RunningServer) -> None:
    async with server.http(token=None) as anonymous:
        empty_name = await anonymous.post("/demo/sessions", json={"candidateName": ""})
        unknown = await anonymous.post("/demo/sessions", json={"assessmentId": "other"})
    assert empty_name.status_code == 422 and empty_name.json()["error"]["field"] == "candidateName"
    assert unknown.status_code == 422


async def test_the_demo_can_be_turned_off(tmp_path: Path) -> None:
    async with running_server(tmp_path, demo={"enabled": False}) as server:
        async with server.http(token=None) as anonymous:
            response = await anonymous.post("/demo/sessions", json={})
    assert response.status_code == 404
    assert "[demo] enabled" in response.json()["error"]["message"]
