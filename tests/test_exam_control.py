"""Exam control through the real server (CONTRACT.md section 9.3): the time limit, extra time,
the restart that must still submit, late events, accommodations and the acknowledged pause."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support import RunningServer, eventually, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def assessment(assessment_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": assessment_id, "questions": [{"id": "q1", "correctAnswer": "yes"}], **fields}


async def define(server: RunningServer, body: dict[str, Any]) -> Any:
    async with server.http() as client:
        return await client.post("/assessments", json=body)


async def create(server: RunningServer, assessment_id: str, **fields: Any) -> Any:
    body = {
        "candidateEmail": "ada@example.com",
        "candidateName": "Ada Lovelace",
        "assessmentId": assessment_id,
        **fields,
    }
    async with server.http() as client:
        return await client.post("/candidate-sessions", json=body)


async def detail(server: RunningServer, session_id: str) -> dict[str, Any]:
    async with server.http() as client:
        response = await client.get(f"/candidate-sessions/{session_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def events(server: RunningServer, session_id: str) -> list[dict[str, Any]]:
    found = await server.services.store.events(session_id)
    return [{"type": e.type, "data": e.data, "origin": e.origin} for e in found]


async def wait_completed(server: RunningServer, session_id: str, timeout: float) -> None:
    """Poll the stored state (a condition, with a deadline) until the session is COMPLETED."""
    with anyio.fail_after(timeout):
        while True:
            state = (await detail(server, session_id))["state"]
            if state["status"] == "COMPLETED" and state["endTime"]:
                return
            await anyio.sleep(0.05)


async def test_the_server_submits_at_the_time_limit_and_marks_late_events(
    server: RunningServer,
) -> None:
    assert (await define(server, assessment("timed", durationSeconds=1.5))).status_code == 201
    response = await create(server, "timed")
    session_id, token = response.json()["id"], response.json()["candidateToken"]
    async with server.candidate(session_id, token) as candidate:
        clock, _ = await candidate.recv_until(lambda m: m["type"] == "clock")
        assert 0 < clock["secondsLeft"] <= 1.5 and clock["timeUp"] is False
        await candidate.event(1, "assessment_started")
        await candidate.acked(1)
        told, _ = await candidate.recv_until(lambda m: m["type"] == "clock" and m["timeUp"])
        assert told["secondsLeft"] == 0
        await candidate.event(2, "answer_submitted", questionId="q1", data={"response": "yes"})
        await candidate.acked(2)
    state = (await detail(server, session_id))["state"]
    assert state["status"] == "COMPLETED" and state["endTime"] is not None
    stored = await events(server, session_id)
    submit = [e for e in stored if e["type"] == "assessment_submitted"]
    assert len(submit) == 1 and submit[0]["origin"] == "server"
    assert submit[0]["data"]["reason"] == "time_limit"
    late = stored[-1]
    assert late["type"] == "answer_submitted" and late["data"]["late"] is True


async def test_extra_time_moves_the_deadline(server: RunningServer) -> None:
    assert (await define(server, assessment("timed2", durationSeconds=1))).status_code == 201
    plain = (await create(server, "timed2")).json()["id"]
    extra = await create(server, "timed2", accommodations={"extraTimeSeconds": 30})
    assert extra.status_code == 201, extra.text
    extra_id = extra.json()["id"]
    await wait_completed(server, plain, timeout=10)
    assert (await detail(server, extra_id))["state"]["status"] == "IN_PROGRESS"
    # An admin's PUT shortens it back: the session is submitted at once.
    async with server.http() as client:
        response = await client.put(
            f"/candidate-sessions/{extra_id}", json={"accommodations": {"extraTimeSeconds": 0}}
        )
    assert response.status_code == 200, response.text
    await wait_completed(server, extra_id, timeout=10)


async def test_a_deadline_that_passed_while_down_is_applied_at_start(tmp_path: Path) -> None:
    async with running_server(tmp_path) as first:
        assert (await define(first, assessment("timed3", durationSeconds=1))).status_code == 201
        session_id = (await create(first, "timed3")).json()["id"]
        started = time.time()
        assert (await detail(first, session_id))["state"]["status"] == "IN_PROGRESS"
        # Stop before the deadline: nothing may submit it while the server is down.
        assert time.time() - started < 1
    await eventually(lambda: time.time() > started + 1.2, timeout=5)
    async with running_server(tmp_path) as second:
        await wait_completed(second, session_id, timeout=10)
        submit = [
            e for e in await events(second, session_id) if e["type"] == "assessment_submitted"
        ]
        assert [e["data"]["reason"] for e in submit] == ["time_limit"]


async def test_bad_durations_and_accommodations_are_refused_naming_the_field(
    server: RunningServer,
) -> None:
    for bad in (-1, 0, 8 * 24 * 3600, "soon"):
        response = await define(server, assessment("bad", durationSeconds=bad))
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["field"] == "durationSeconds"
    async with server.http() as client:
        assert (await client.get("/assessments/bad")).status_code == 404
    cases = [
        ({"extraTimeSeconds": -5}, "accommodations.extraTimeSeconds"),
        ({"extraTimeSeconds": 10**9}, "accommodations.extraTimeSeconds"),
        ({"extraTimeSeconds": "lots"}, "accommodations.extraTimeSeconds"),
        ({"disabledChecks": ["NOT_A_CHECK"]}, "accommodations.disabledChecks[0]"),
    ]
    async with server.http() as client:
        before = len((await client.get("/candidate-sessions")).json())
    for accommodations, field in cases:
        response = await create(server, "exam-1", accommodations=accommodations)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
    session_id, _ = await server.create_session()
    for accommodations, field in cases:
        async with server.http() as client:
            response = await client.put(
                f"/candidate-sessions/{session_id}", json={"accommodations": accommodations}
            )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field
    async with server.http() as client:
        assert len((await client.get("/candidate-sessions")).json()) == before + 1
    assert await events(server, session_id) == []


async def test_a_retried_create_stores_the_accommodations_a_stop_cut_off(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session (with its Idempotency-Key) and its accommodations are two writes: a server
    that stops between them answers nothing, and the client's retry must not get the session
    without them."""
    from app.http.routes.sessions import SessionRoutes

    stored_once = SessionRoutes._accommodate

    async def stops_before_storing(self: SessionRoutes, *args: Any) -> None:
        monkeypatch.setattr(SessionRoutes, "_accommodate", stored_once)
        raise RuntimeError("the server stopped here")

    monkeypatch.setattr(SessionRoutes, "_accommodate", stops_before_storing)
    body = {
        "candidateEmail": "ada@example.com",
        "candidateName": "Ada Lovelace",
        "assessmentId": "exam-1",
        "accommodations": {"extraTimeSeconds": 600, "disabledChecks": ["TAB_SWITCH"]},
    }
    headers = {"Idempotency-Key": "create-with-accommodations"}
    async with server.http() as client:
        cut_off = await client.post("/candidate-sessions", json=body, headers=headers)
        assert cut_off.status_code == 500
        retried = await client.post("/candidate-sessions", json=body, headers=headers)
        again = await client.post("/candidate-sessions", json=body, headers=headers)
    assert retried.status_code == again.status_code == 201
    session_id = retried.json()["id"]
    assert again.json()["id"] == session_id
    stored = [e for e in await events(server, session_id) if e["type"] == "accommodations_set"]
    assert [e["data"] for e in stored] == [
        {"extraTimeSeconds": 600, "disabledChecks": ["TAB_SWITCH"]}
    ]  # once, though asked three times


async def test_a_disabled_check_is_recorded_accommodated_and_costs_nothing(
    server: RunningServer,
) -> None:
    response = await create(server, "exam-1", accommodations={"disabledChecks": ["TAB_SWITCH"]})
    session_id, token = response.json()["id"], response.json()["candidateToken"]
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "tab_switch_detected")
        await candidate.event(2, "copy_attempt")
        await candidate.acked(2)
    found = await detail(server, session_id)
    assert found["state"]["verificationScore"] == 100 - 8  # the copy only
    violations = {v["type"]: v for v in found["violations"]}
    assert violations["TAB_SWITCH"]["accommodated"] is True
    assert violations["TAB_SWITCH"]["details"]["accommodation"] == {"disabledCheck": "TAB_SWITCH"}
    assert violations["COPY_PASTE"]["accommodated"] is False
    # A candidate may not grant itself accommodations.
    async with server.http(token=token) as client:
        refused = await client.put(
            f"/candidate-sessions/{session_id}",
            json={"accommodations": {"disabledChecks": ["COPY_PASTE"]}},
        )
    assert refused.status_code == 403


async def test_the_candidate_acknowledges_a_pause(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        async with server.http() as client:
            paused = await client.put(
                f"/candidate-sessions/{session_id}", json={"status": "PAUSED"}
            )
        assert paused.json()["status"] == "PAUSED"
        await candidate.recv_until(lambda m: m["type"] == "pause")
        await candidate.event(1, "pause_acknowledged")
        await candidate.recv_until(lambda m: m["type"] == "resume")
        await candidate.acked(1)
        kinds = [e["type"] for e in await events(server, session_id)]
    assert kinds == ["intervention", "pause_acknowledged"]
    state = (await detail(server, session_id))["state"]
    assert state["status"] == "IN_PROGRESS"


async def test_a_pause_stops_the_exam_clock(server: RunningServer) -> None:
    assert (await define(server, assessment("paused", durationSeconds=1.5))).status_code == 201
    response = await create(server, "paused")
    session_id, token = response.json()["id"], response.json()["candidateToken"]
    async with server.candidate(session_id, token) as candidate:
        await candidate.recv_until(lambda m: m["type"] == "clock")
        async with server.http() as client:
            await client.put(f"/candidate-sessions/{session_id}", json={"status": "PAUSED"})
        stopped, _ = await candidate.recv_until(lambda m: m["type"] == "clock" and m["paused"])
        assert 0 < stopped["secondsLeft"] <= 1.5 and stopped["timeUp"] is False
        await anyio.sleep(2.0)  # past the limit, had the clock run on
        assert (await detail(server, session_id))["state"]["status"] == "PAUSED"
        await candidate.event(1, "pause_acknowledged", data={"resumedAt": "2000-01-01T00:00:00Z"})
        going, _ = await candidate.recv_until(lambda m: m["type"] == "clock" and not m["paused"])
        assert stopped["secondsLeft"] - 0.3 <= going["secondsLeft"] <= stopped["secondsLeft"]
        await candidate.recv_until(lambda m: m["type"] == "clock" and m["timeUp"])
    stored = await events(server, session_id)
    [acknowledged] = [e for e in stored if e["type"] == "pause_acknowledged"]
    assert acknowledged["data"]["resumedAt"] != "2000-01-01T00:00:00Z"  # the server's time wins
    [submit] = [e for e in stored if e["type"] == "assessment_submitted"]
    assert submit["origin"] == "server" and 2.0 <= submit["data"]["pausedSeconds"] < 3.5


async def test_the_standard_escalation_warns_pauses_and_pauses_at_max_warnings(
    server: RunningServer,
) -> None:
    policy = {"escalation": "standard", "maxWarnings": 2}
    assert (await define(server, assessment("policed", proctoring=policy))).status_code == 201
    response = await create(server, "policed")
    session_id, token = response.json()["id"], response.json()["candidateToken"]
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "tab_switch_detected")
        warning, _ = await candidate.recv_until(lambda m: m["type"] == "warning")
        assert warning["action"] == "warn" and warning["severity"] in ("medium", "high")
        assert warning["timestamp"] and warning["message"] and warning["warningsLeft"] == 1
        await candidate.event(2, "copy_attempt")
        await candidate.event(3, "paste_attempt")  # the third violation: the second warning
        pause, _ = await candidate.recv_until(lambda m: m["type"] == "pause")
        assert pause["reason"] == "policy" and pause["acknowledge"] is True
        await candidate.event(4)  # acked: committed, with everything stored before it
        await candidate.acked(4)
    stored = await events(server, session_id)
    by = [e["data"]["by"] for e in stored if e["type"] == "intervention"]
    assert by == ["rule:first-violation", "rule:third-violation", "policy:max_warnings"]
    assert (await detail(server, session_id))["state"]["status"] == "PAUSED"


async def test_a_bad_policy_is_refused_naming_the_field(server: RunningServer) -> None:
    for body, field in (
        ({"camera": "sometimes"}, "camera"),
        ({"proctoring": {"escalation": "harsh"}}, "proctoring.escalation"),
        ({"proctoring": {"atMaxWarnings": "explode"}}, "proctoring.atMaxWarnings"),
    ):
        response = await define(server, assessment("bad-policy", **body))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == field


async def test_the_demo_shows_the_time_left_and_warns(tmp_path: Path) -> None:
    async with running_server(tmp_path, demo={"escalation": "standard"}) as server:
        async with server.http(token=None) as client:
            response = await client.post("/demo/sessions", json={"candidateName": "Ada"})
        assert response.status_code == 201, response.text
        opened = response.json()
        async with server.candidate(opened["sessionId"], opened["candidateToken"]) as candidate:
            clock, _ = await candidate.recv_until(lambda m: m["type"] == "clock")
            assert 590 < clock["secondsLeft"] <= 600
            await candidate.event(1, "tab_switch_detected")
            warning, _ = await candidate.recv_until(lambda m: m["type"] == "warning")
            assert warning["reason"] == "integrity" and warning["action"] == "warn"


async def test_the_ledger_says_which_accommodation_applied(server: RunningServer) -> None:
    response = await create(server, "exam-1", accommodations={"disabledChecks": ["COPY_PASTE"]})
    session_id, token = response.json()["id"], response.json()["candidateToken"]
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "copy_attempt")
        await candidate.acked(1)
    async with server.http() as client:
        report = await client.get(f"/candidate-sessions/{session_id}/report")
    assert report.status_code == 200, report.text
    text = report.text
    assert "accommodated: COPY_PASTE is a disabled check" in text


async def test_a_session_nobody_touches_is_submitted_at_its_limit(server: RunningServer) -> None:
    """No socket, no request after creation: no actor of it runs until the deadline loads it."""
    assert (await define(server, assessment("untouched", durationSeconds=0.5))).status_code == 201
    session_id = (await create(server, "untouched")).json()["id"]
    assert server.services.registry.live_state(session_id) is None
    with anyio.fail_after(10):
        while True:  # read storage only: reading through the API would load the session
            record = await server.services.store.session(session_id)
            assert record is not None
            if record.status == "COMPLETED":
                break
            await anyio.sleep(0.05)
    submit = [e for e in await events(server, session_id) if e["type"] == "assessment_submitted"]
    assert [e["data"]["reason"] for e in submit] == ["time_limit"]
