"""`Idempotency-Key` on POST and PUT: a retry is answered like the first request and changes
nothing again, even when the server was killed between the two."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import ADMIN_TOKEN, RunningServer, ServerProcess

pytestmark = pytest.mark.anyio
VIOLATION = {"type": "TAB_SWITCH", "severity": "MEDIUM", "timestamp": "2026-11-22T10:00:00Z"}


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def violations_of(server: RunningServer, session_id: str) -> list[dict[str, Any]]:
    async with server.http() as client:
        body = (await client.get(f"/candidate-sessions/{session_id}")).json()
    violations: list[dict[str, Any]] = body["violations"]
    return violations


async def test_a_retried_violation_is_stored_once(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    path = f"/candidate-sessions/{session_id}/violations"
    async with server.http(token=token) as client:
        first = await client.post(path, json=VIOLATION, headers=keyed("v-1"))
        retry = await client.post(path, json=VIOLATION, headers=keyed("v-1"))
        other = await client.post(path, json=VIOLATION, headers=keyed("v-2"))
    assert first.status_code == retry.status_code == other.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [v["id"] for v in await violations_of(server, session_id)] == [
        first.json()["id"],
        other.json()["id"],
    ]


async def test_a_key_reused_for_another_request_is_refused(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    path = f"/candidate-sessions/{session_id}/violations"
    async with server.http() as client:
        await client.post(path, json=VIOLATION, headers=keyed("k"))
        changed = await client.post(
            path, json={**VIOLATION, "severity": "HIGH"}, headers=keyed("k")
        )
        elsewhere = await client.put(
            f"/candidate-sessions/{session_id}/device-info",
            json={"platform": "Linux"},
            headers=keyed("k"),
        )
    for response in (changed, elsewhere):
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert response.json()["error"]["field"] == "Idempotency-Key"
    stored = await violations_of(server, session_id)
    assert [v["severity"] for v in stored] == ["MEDIUM"]


async def test_keys_belong_to_the_client_that_sent_them(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    path = f"/candidate-sessions/{session_id}/violations"
    async with server.http(token=token) as candidate, server.http() as admin:
        by_candidate = await candidate.post(path, json=VIOLATION, headers=keyed("same"))
        by_admin = await admin.post(path, json=VIOLATION, headers=keyed("same"))
    assert by_candidate.json()["id"] != by_admin.json()["id"]
    assert len(await violations_of(server, session_id)) == 2


async def test_a_retried_create_returns_the_same_session_and_token(server: RunningServer) -> None:
    body = {"candidateEmail": "a@example.com", "candidateName": "A", "assessmentId": "exam-7"}
    async with server.http() as client:
        first = await client.post("/candidate-sessions", json=body, headers=keyed("create-a"))
        retry = await client.post("/candidate-sessions", json=body, headers=keyed("create-a"))
        listed = await client.get("/candidate-sessions", params={"assessmentId": "exam-7"})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry.json()["candidateToken"].startswith("vct_")
    assert [s["id"] for s in listed.json()] == [first.json()["id"]]


async def test_a_retried_submit_succeeds_where_a_second_submit_conflicts(
    server: RunningServer,
) -> None:
    session_id, _ = await server.create_session()
    path = f"/candidate-sessions/{session_id}/submit"
    body = {"answers": [{"questionId": "q1", "response": "Paris"}], "totalTimeSpent": 60}
    async with server.http() as client:
        first = await client.post(path, json=body, headers=keyed("submit-1"))
        retry = await client.post(path, json=body, headers=keyed("submit-1"))
        second = await client.post(path, json=body)
        stored = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert first.status_code == retry.status_code == 200
    assert retry.json()["session"]["status"] == "COMPLETED"
    assert second.status_code == 409
    assert len(stored["answers"]) == 1


async def test_a_retried_assessment_definition_is_not_a_conflict(server: RunningServer) -> None:
    body = {"id": "exam-idem", "questions": [{"id": "q1", "correctAnswer": "4"}]}
    async with server.http() as client:
        first = await client.post("/assessments", json=body, headers=keyed("define"))
        retry = await client.post("/assessments", json=body, headers=keyed("define"))
        unkeyed = await client.post("/assessments", json=body)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert unkeyed.status_code == 409


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
async def test_malformed_keys_are_400(server: RunningServer, key: str) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.post(
            f"/candidate-sessions/{session_id}/violations",
            json=VIOLATION,
            headers={"Idempotency-Key": key.encode()},  # raw UTF-8 bytes for the last one
        )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert await violations_of(server, session_id) == []


async def test_a_rejected_request_does_not_use_up_its_key(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    path = f"/candidate-sessions/{session_id}/violations"
    async with server.http() as client:
        bad = await client.post(path, json={"type": "TAB_SWITCH"}, headers=keyed("fix-me"))
        fixed = await client.post(path, json=VIOLATION, headers=keyed("fix-me"))
    assert bad.status_code == 422 and fixed.status_code == 201
    assert len(await violations_of(server, session_id)) == 1


def test_a_retry_after_kill_9_is_recognised(process: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=process.url, headers=headers, timeout=10) as client:
        created = client.post(
            "/candidate-sessions",
            json={"candidateEmail": "k@example.com", "candidateName": "K", "assessmentId": "x"},
            headers=keyed("create-k"),
        ).json()
        path = f"/candidate-sessions/{created['id']}/violations"
        first = client.post(path, json=VIOLATION, headers=keyed("after-crash"))
        assert first.status_code == 201
    process.kill()  # the answer was given; the client did not get it, say, and retries
    process.start()
    with httpx.Client(base_url=process.url, headers=headers, timeout=10) as client:
        recreated = client.post(
            "/candidate-sessions",
            json={"candidateEmail": "k@example.com", "candidateName": "K", "assessmentId": "x"},
            headers=keyed("create-k"),
        ).json()
        retry = client.post(path, json=VIOLATION, headers=keyed("after-crash"))
        stored = client.get(f"/candidate-sessions/{created['id']}").json()
    assert recreated == created
    assert retry.status_code == 201 and retry.json() == first.json()
    assert len(stored["violations"]) == 1
