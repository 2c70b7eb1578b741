"""A scripted session over the real socket yields the QuestionTracking and SessionBehavior numbers
one computes by hand (issue 3's definition of done)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import RunningServer

pytestmark = pytest.mark.anyio

SCRIPT: list[tuple[str, str, dict[str, Any]]] = [
    ("assessment_started", "10:00:00", {}),
    ("question_viewed", "10:00:00", {"questionId": "q1"}),
    ("focus_lost", "10:00:10", {"data": {"durationMs": 2000}}),  # LOW, on q1
    (
        "answer_submitted",
        "10:00:30",
        {"questionId": "q1", "data": {"response": "A", "timeSpent": 30}},
    ),
    ("question_viewed", "10:00:40", {"questionId": "q2"}),  # q1: 40 s so far
    ("copy_attempt", "10:00:50", {}),  # MEDIUM, on q2
    ("tab_switch_detected", "10:01:00", {}),  # MEDIUM, on q2
    ("question_viewed", "10:01:10", {"questionId": "q1"}),  # q2: 30 s; q1 revisited
    (
        "answer_submitted",
        "10:01:20",
        {"questionId": "q1", "data": {"response": "B", "timeSpent": 10}},
    ),
    ("question_viewed", "10:01:30", {"questionId": "q3"}),  # q1: 40 + 20 = 60 s
    ("assessment_submitted", "10:02:00", {}),  # q3: 30 s, never answered
]


async def run_script(server: RunningServer) -> tuple[str, str]:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for seq, (kind, clock, fields) in enumerate(SCRIPT, start=1):
            await candidate.send(
                {"type": kind, "seq": seq, "ts": f"2026-11-22T{clock}.000Z", **fields}
            )
        await candidate.acked(len(SCRIPT))
    return session_id, token


async def test_question_tracking_and_behavior_by_hand(server: RunningServer) -> None:
    session_id, _ = await run_script(server)
    async with server.http() as client:
        body = (await client.get(f"/candidate-sessions/{session_id}")).json()
    tracking = {record["questionId"]: record for record in body["questionTracking"]}
    assert set(tracking) == {"q1", "q2", "q3"}
    q1, q2, q3 = tracking["q1"], tracking["q2"], tracking["q3"]
    assert (q1["firstViewedAt"], q1["lastViewedAt"]) == (
        "2026-11-22T10:00:00.000Z",
        "2026-11-22T10:01:20.000Z",
    )
    assert (q1["timeSpent"], q1["revisitCount"], q1["attempts"], q1["changedAnswerCount"]) == (
        60,
        1,
        2,
        1,
    )
    assert (q1["focusLossEvents"], q1["copyPasteAttempts"], q1["tabSwitches"]) == (1, 0, 0)
    assert (q1["skipped"], q1["suspiciousActivity"]) == (False, True)
    assert (q2["timeSpent"], q2["revisitCount"], q2["attempts"]) == (30, 0, 0)
    assert (
        q2["copyPasteAttempts"],
        q2["tabSwitches"],
        q2["skipped"],
        q2["suspiciousActivity"],
    ) == (1, 1, True, True)
    assert (q3["timeSpent"], q3["skipped"], q3["suspiciousActivity"]) == (30, True, False)

    behavior = body["sessionBehavior"]
    assert (
        behavior["totalTabSwitches"],
        behavior["totalCopyPasteAttempts"],
        behavior["focusLossCount"],
    ) == (1, 1, 1)
    assert behavior["suspiciousActivityCount"] == 3 and behavior["anomalyDetected"] is False
    assert behavior["averageResponseTime"] == 20  # (30 + 10) / 2
    # Views q1, q2, q1, q3: q1 -> q2 forward, q2 -> q1 back (a revisit), q1 -> q3 forward.
    assert behavior["questionNavigationPattern"] == {
        "sequence": ["q1", "q2", "q1", "q3"],
        "views": 4,
        "forward": 2,
        "backward": 1,
        "revisits": 1,
        "linear": False,
    }
    assert [a["attempts"] for a in body["answers"]] == [1, 2]
    # 100 - 3 (LOW) - 8 - 8 (MEDIUM); no question reached three violations
    assert body["verification"]["verificationScore"] == 81
    assert body["monitoring"]["currentQuestionId"] == "q3" and body["status"] == "COMPLETED"


async def test_tracking_data_adds_only_what_the_server_cannot_see(server: RunningServer) -> None:
    session_id, token = await run_script(server)
    report = {
        "questionId": "q2",
        "flagged": True,
        "timeSpent": 99,
        "metadata": {"note": "come back"},
    }
    async with server.http(token=token) as client:
        response = await client.put(f"/candidate-sessions/{session_id}/tracking-data", json=report)
        assert response.status_code == 200
        q2 = response.json()
        assert q2["flagged"] is True and q2["metadata"] == {"note": "come back"}
        assert q2["timeSpent"] == 30 and q2["reported"] == {
            "timeSpent": 99
        }  # the server's count stands
        got = (await client.get(f"/candidate-sessions/{session_id}")).json()["questionTracking"]
        assert q2 in got
        missing = await client.put(
            f"/candidate-sessions/{session_id}/tracking-data", json={"flagged": True}
        )
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "questionId"
        new = await client.put(
            f"/candidate-sessions/{session_id}/tracking-data",
            json={"questionId": "q9", "flagged": True},
        )
        assert (
            new.status_code == 200 and new.json()["firstViewedAt"] is None
        )  # reported, never seen


async def test_monitoring_takes_device_load_from_heartbeats(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "heartbeat", data={"batteryLevel": 0.8, "cpuUsage": 0.5})
        await candidate.event(2, "heartbeat", data={"cpuUsage": "high", "memoryUsage": 0.25})
        await candidate.event(3, "answer_submitted", questionId="q1", data={"response": "A"})
        await candidate.acked(3)
        async with server.http() as client:
            monitoring = (await client.get(f"/candidate-sessions/{session_id}")).json()[
                "monitoring"
            ]
    # A value that is not a number is ignored; the newest number of each kind stands.
    assert {k: monitoring[k] for k in ("batteryLevel", "cpuUsage", "memoryUsage")} == {
        "batteryLevel": 0.8,
        "cpuUsage": 0.5,
        "memoryUsage": 0.25,
    }
    assert monitoring["autoSaveCount"] == 1 and monitoring["connectionStatus"] == "CONNECTED"
    assert monitoring["isActive"] is True and monitoring["currentQuestionId"] == "q1"
