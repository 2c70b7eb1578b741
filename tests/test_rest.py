"""HTTP endpoints: auth, the error format of CONTRACT.md section 3, sessions, scores, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN, RunningServer, running_server

pytestmark = pytest.mark.anyio
VALID = {"candidateEmail": "ada@example.com", "candidateName": "Ada", "assessmentId": "exam-1"}


async def test_healthz_needs_no_token(server: RunningServer) -> None:
    async with server.http(token=None) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_create_session(server: RunningServer) -> None:
    async with server.http() as client:
        response = await client.post(
            "/candidate-sessions", json={**VALID, "candidatePhone": "+1 555"}
        )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "IN_PROGRESS" and body["candidateToken"].startswith("vct_")
    assert body["startTime"].endswith("Z") and body["candidatePhone"] == "+1 555"
    assert {"id", "candidateEmail", "candidateName", "assessmentId", "createdAt"} <= body.keys()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"{not json", 400, "invalid_json", None),
        (b"", 400, "invalid_json", None),
        (b"[]", 422, "invalid_body", None),
        (b'{"candidateName": "Ada", "assessmentId": "x"}', 422, "invalid_body", "candidateEmail"),
        (
            b'{"candidateEmail": "nope", "candidateName": "Ada", "assessmentId": "x"}',
            422,
            "invalid_body",
            "candidateEmail",
        ),
        (
            b'{"candidateEmail": "a@b.c", "candidateName": 7, "assessmentId": "x"}',
            422,
            "invalid_body",
            "candidateName",
        ),
        (
            b'{"candidateEmail": "a@b.c", "candidateName": "", "assessmentId": "x"}',
            422,
            "invalid_body",
            "candidateName",
        ),
        (
            b'{"candidateEmail": "a@b.c", "candidateName": "A", "assessmentId": "a b"}',
            422,
            "invalid_body",
            "assessmentId",
        ),
    ],
)
async def test_bad_bodies_are_refused_and_change_nothing(
    server: RunningServer, body: bytes, status: int, code: str, field: str | None
) -> None:
    async with server.http() as client:
        response = await client.post(
            "/candidate-sessions", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == status
        error = response.json()["error"]
        assert error["code"] == code and error["message"]
        assert error.get("field") == field
        assert (await client.get("/candidate-sessions")).json() == []


async def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path, server={"max_body_bytes": 200}) as server,
        server.http() as client,
    ):
        response = await client.post(
            "/candidate-sessions", json={**VALID, "candidateName": "x" * 300}
        )
        assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
        assert (await client.get("/candidate-sessions")).json() == []


async def test_auth_401_and_403(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    other_id, _ = await server.create_session()
    async with server.http(token=None) as client:
        assert (await client.get(f"/candidate-sessions/{session_id}")).status_code == 401
    async with server.http(token="wrong") as client:
        response = await client.get(f"/candidate-sessions/{session_id}")
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    async with server.http(token=token) as client:
        assert (await client.get(f"/candidate-sessions/{session_id}")).status_code == 200
        response = await client.get(f"/candidate-sessions/{other_id}")
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
        assert (await client.post("/candidate-sessions", json=VALID)).status_code == 403
        assert (await client.get("/metrics")).status_code == 403


async def test_unknown_session_is_404(server: RunningServer) -> None:
    async with server.http() as client:
        for response in (
            await client.get("/candidate-sessions/nope"),
            await client.post("/candidate-sessions/nope/calculate-verification-score"),
        ):
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


async def test_unknown_route_and_method_use_the_error_format(server: RunningServer) -> None:
    async with server.http() as client:
        assert (await client.get("/nowhere")).json()["error"]["code"] == "not_found"
        response = await client.patch("/candidate-sessions")
        assert (
            response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
        )


async def test_session_with_records_and_live_scores(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "assessment_started")
        await candidate.event(2, "question_viewed", questionId="q1")
        await candidate.event(
            3,
            "answer_submitted",
            questionId="q1",
            data={"response": {"answer": "Paris"}, "timeSpent": 45},
        )
        await candidate.event(4, "tab_switch_detected")
        await candidate.event(
            5, "device_info", data={"userAgent": "Firefox", "screenResolution": "1920x1080"}
        )
        await candidate.acked(5)
        async with server.http() as client:
            body = (await client.get(f"/candidate-sessions/{session_id}")).json()
            score = (
                await client.post(f"/candidate-sessions/{session_id}/calculate-verification-score")
            ).json()
    assert body["verification"] == {
        "verificationScore": 92,
        "riskFactors": [{"factor": "Anti-cheat violations", "impact": -8, "count": 1}],
        "trustLevel": "HIGH",
    }
    assert score == body["verification"]
    assert body["risk"]["riskScore"] == 0.03 and body["risk"]["riskLevel"] == "low"
    assert body["risk"]["riskBreakdown"]["tabSwitches"] == 0.1
    [answer] = body["answers"]
    assert (
        answer["questionId"] == "q1"
        and answer["response"] == {"answer": "Paris"}
        and answer["timeSpent"] == 45
    )
    [violation] = body["violations"]
    assert (
        violation["type"] == "TAB_SWITCH"
        and violation["severity"] == "MEDIUM"
        and violation["questionId"] == "q1"
    )
    assert body["deviceInfo"]["userAgent"] == "Firefox"
    assert body["sessionBehavior"]["totalTabSwitches"] == 1
    assert body["monitoring"]["connectionStatus"] == "CONNECTED"


async def test_list_sessions_by_assessment(server: RunningServer) -> None:
    a, _ = await server.create_session("exam-a")
    await server.create_session("exam-b")
    async with server.http() as client:
        listed = (await client.get("/candidate-sessions", params={"assessmentId": "exam-a"})).json()
        everything = (await client.get("/candidate-sessions")).json()
    assert [s["id"] for s in listed] == [a] and len(everything) == 2


async def test_metrics_are_prometheus_text(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1)
        await candidate.acked(1)
        async with server.http() as client:
            response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "vigil_candidate_connections 1" in text
    assert "vigil_events_received_total 1" in text and "vigil_events_stored_total 1" in text
    # the acked event's wait from its socket to its commit
    assert "vigil_candidate_event_commit_seconds_count 1" in text
    assert 'vigil_candidate_event_commit_seconds_bucket{le="+Inf"} 1' in text
    for name in (
        "vigil_journal_commit_seconds_bucket",
        "vigil_mailbox_depth_max",
        "vigil_admins_evicted_total",
    ):
        assert name in text
    assert ADMIN_TOKEN not in text
