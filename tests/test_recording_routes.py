"""Document 001's recording endpoints: each is a stored event, answered after its commit, seen on
the admin channels, and a rejected request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import RunningServer

pytestmark = pytest.mark.anyio


async def last_offset(server: RunningServer, session_id: str) -> int:
    async with server.http() as client:
        return int(
            (await client.get(f"/candidate-sessions/{session_id}")).json()["state"]["lastOffset"]
        )


async def test_a_reported_violation_is_stored_scored_and_broadcast(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    body = {
        "type": "TAB_SWITCH", "description": "Candidate switched to another tab", "severity": "HIGH",
        "timestamp": "2024-01-15T10:25:30Z", "metadata": {"duration": 5}, "questionId": "q3",
    }  # fmt: skip
    async with server.admin() as admin:
        await admin.subscribe(f"session:{session_id}")
        async with server.http(token=token) as client:  # the candidate's own token may report
            response = await client.post(f"/candidate-sessions/{session_id}/violations", json=body)
        assert response.status_code == 201
        violation = response.json()
        assert {k: violation[k] for k in ("type", "severity", "description", "timestamp", "questionId", "resolved")} == {
            "type": "TAB_SWITCH", "severity": "HIGH", "description": "Candidate switched to another tab",
            "timestamp": "2024-01-15T10:25:30.000Z", "questionId": "q3", "resolved": False,
        }  # fmt: skip
        assert violation["details"]["duration"] == 5 and violation["sessionId"] == session_id
        event, _ = await admin.recv_until(lambda m: m["type"] == "event")
        assert event["event"]["type"] == "violation_reported" and event["event"]["origin"] == "rest"
        assert event["state"]["verificationScore"] == 85
    async with server.http() as client:
        stored = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert stored["violations"] == [violation]  # the record GET derives is the one POST answered
    assert stored["verification"]["verificationScore"] == 85


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "TAB_SWITCH", "severity": "SEVERE"}, "severity"),
        ({"type": "tab switch", "severity": "LOW"}, "type"),
        ({"severity": "LOW"}, "type"),
        ({"type": "TAB_SWITCH", "severity": "LOW", "timestamp": "yesterday"}, "timestamp"),
        ({"type": "TAB_SWITCH", "severity": "LOW", "metadata": [1]}, "metadata"),
    ],
)
async def test_bad_violations_are_422_and_change_nothing(
    server: RunningServer, body: dict[str, Any], field: str
) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.post(f"/candidate-sessions/{session_id}/violations", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == {
        **response.json()["error"],
        "code": "invalid_body",
        "field": field,
    }
    assert await last_offset(server, session_id) == 0


async def test_submit_completes_once_and_keeps_the_answers(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    body = {
        "answers": [
            {
                "questionId": "q1",
                "response": {"answer": "Paris"},
                "timeSpent": 45,
                "submittedAt": "2024-01-15T10:30:00Z",
            },
            {"questionId": "q2", "response": "42", "timeSpent": 30},
        ],
        "totalTimeSpent": 1800,
    }
    async with server.http(token=token) as client:
        response = await client.post(f"/candidate-sessions/{session_id}/submit", json=body)
        assert response.status_code == 200
        answer = response.json()
        assert answer["success"] is True
        assert answer["session"]["status"] == "COMPLETED" and answer["session"]["endTime"]
        again = await client.post(f"/candidate-sessions/{session_id}/submit", json=body)
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_submitted"
        stored = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert [(a["questionId"], a["response"], a["timeSpent"]) for a in stored["answers"]] == [
        ("q1", {"answer": "Paris"}, 45),
        ("q2", "42", 30),
    ]
    assert stored["answers"][0]["submittedAt"] == "2024-01-15T10:30:00.000Z"
    assert stored["state"]["lastOffset"] == 1  # the refused second submit stored nothing


async def test_submit_after_the_socket_submitted_is_409(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "assessment_submitted")
        await candidate.acked(1)
    async with server.http() as client:
        response = await client.post(
            f"/candidate-sessions/{session_id}/submit", json={"answers": []}
        )
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"answers": [{"response": 1}]}, "answers[0].questionId"),
        ({"answers": [{"questionId": "q1", "timeSpent": -1}]}, "answers[0].timeSpent"),
        ({"answers": {}}, "answers"),
        ({"totalTimeSpent": "long"}, "totalTimeSpent"),
    ],
)
async def test_bad_submits_are_422_and_change_nothing(
    server: RunningServer, body: dict[str, Any], field: str
) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        response = await client.post(f"/candidate-sessions/{session_id}/submit", json=body)
        assert response.status_code == 422 and response.json()["error"]["field"] == field
        assert (await client.get(f"/candidate-sessions/{session_id}")).json()[
            "status"
        ] == "IN_PROGRESS"


async def test_device_info(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    body = {
        "userAgent": "Mozilla/5.0",
        "platform": "MacOS",
        "screenResolution": "1920x1080",
        "deviceFingerprint": "abc123",
        "colorDepth": 24,
    }
    async with server.http() as client:
        response = await client.put(f"/candidate-sessions/{session_id}/device-info", json=body)
        assert response.status_code == 200
        device = response.json()
        assert {k: device.pop(k) for k in ("capturedAt", "changes")}["changes"] == []
        assert device == {"id": f"{session_id}:device", "sessionId": session_id, **body}
        stored = (await client.get(f"/candidate-sessions/{session_id}")).json()
        assert stored["deviceInfo"] == response.json()
        bad = await client.put(
            f"/candidate-sessions/{session_id}/device-info", json={"colorDepth": "deep"}
        )
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "colorDepth"
    assert await last_offset(server, session_id) == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "violations", {"type": "TAB_SWITCH", "severity": "LOW"}),
        ("POST", "submit", {"answers": []}),
        ("PUT", "device-info", {"platform": "Linux"}),
        ("PUT", "behavioral-profile", {"behavioralScore": 0.5}),
        ("PUT", "screen-recording", {"uploadStatus": "PENDING"}),
        ("PUT", "tracking-data", {"questionId": "q1", "flagged": True}),
    ],
)
async def test_recording_endpoints_auth_and_404(
    server: RunningServer, method: str, path: str, body: dict[str, Any]
) -> None:
    session_id, _ = await server.create_session()
    _, other_token = await server.create_session()
    async with server.http(token=None) as client:
        assert (
            await client.request(method, f"/candidate-sessions/{session_id}/{path}", json=body)
        ).status_code == 401
    async with server.http(token=other_token) as client:
        assert (
            await client.request(method, f"/candidate-sessions/{session_id}/{path}", json=body)
        ).status_code == 403
    async with server.http() as client:
        missing = await client.request(method, f"/candidate-sessions/nope/{path}", json=body)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        malformed = await client.request(
            method, f"/candidate-sessions/{session_id}/{path}", content=b"{"
        )
        assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    assert await last_offset(server, session_id) == 0


async def test_behavioral_profile_keeps_the_servers_counts_and_the_clients_patterns(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for seq, kind in enumerate(
            ["tab_switch_detected", "tab_switch_detected", "copy_attempt"], start=1
        ):
            await candidate.event(seq, kind)
        await candidate.acked(3)
    report = {
        "totalTabSwitches": 1,
        "totalCopyPasteAttempts": 0,
        "mouseMovementPattern": {"jitter": 0.2},
        "behavioralScore": 0.7,
    }
    async with server.http(token=token) as client:
        response = await client.put(
            f"/candidate-sessions/{session_id}/behavioral-profile", json=report
        )
        assert response.status_code == 200
        behavior = response.json()
        assert (behavior["totalTabSwitches"], behavior["totalCopyPasteAttempts"]) == (
            2,
            1,
        )  # what the server saw
        assert (
            behavior["mouseMovementPattern"] == {"jitter": 0.2}
            and behavior["behavioralScore"] == 0.7
        )
        assert behavior["reported"] == {"totalTabSwitches": 1, "totalCopyPasteAttempts": 0}
        assert (await client.get(f"/candidate-sessions/{session_id}")).json()[
            "sessionBehavior"
        ] == behavior
        for bad, field in (
            ({"totalTabSwitches": -1}, "totalTabSwitches"),
            ({"anomalyDetected": "yes"}, "anomalyDetected"),
        ):
            refused = await client.put(
                f"/candidate-sessions/{session_id}/behavioral-profile", json=bad
            )
            assert refused.status_code == 422 and refused.json()["error"]["field"] == field
        empty = await client.put(f"/candidate-sessions/{session_id}/behavioral-profile", json={})
        assert empty.status_code == 422


async def test_screen_recording_updates_merge(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        first = await client.put(
            f"/candidate-sessions/{session_id}/screen-recording",
            json={
                "recordingStartTime": "2024-01-15T10:00:00Z",
                "uploadStatus": "PENDING",
                "format": "webm",
            },
        )
        assert first.status_code == 200 and first.json()["uploadStatus"] == "PENDING"
        second = await client.put(
            f"/candidate-sessions/{session_id}/screen-recording",
            json={
                "recordingUrl": "https://storage.example.com/recording.mp4",
                "totalDuration": 1800,
                "uploadStatus": "COMPLETED",
            },
        )
        recording = second.json()
        assert (
            recording["recordingStartTime"] == "2024-01-15T10:00:00.000Z"
            and recording["format"] == "webm"
        )
        assert recording["uploadStatus"] == "COMPLETED" and recording["totalDuration"] == 1800
        assert (
            recording["id"] == f"{session_id}:recording"
            and recording["createdAt"] <= recording["updatedAt"]
        )
        assert (await client.get(f"/candidate-sessions/{session_id}")).json()[
            "screenRecording"
        ] == recording
        refused = await client.put(
            f"/candidate-sessions/{session_id}/screen-recording", json={"uploadStatus": "LOST"}
        )
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "uploadStatus"
    assert await last_offset(server, session_id) == 2
