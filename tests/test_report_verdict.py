"""The report a proctor hands on (issue 23 item 6), through the real server: the verdict beside
the recommendation, the exam's score with graded answers, a timeline in words, and captions on
flagged frames that name their event."""

from __future__ import annotations

import msgspec
import pytest

from actors.events import StoredEvent
from actors.report import ProctorAnalysisReport
from app.http.report_html import report_page
from tests.support import RunningServer

pytestmark = pytest.mark.anyio
ASSESSMENT = {
    "id": "exam-report",
    "title": "Capitals",
    "passMark": 50,
    "questions": [
        {"id": "q1", "category": "geography", "correctAnswer": "Paris"},
        {"id": "q2", "category": "geography", "correctAnswer": "Rome"},
    ],
}


async def test_the_report_carries_the_verdict_and_the_graded_exam(server: RunningServer) -> None:
    async with server.http() as admin:
        assert (await admin.post("/assessments", json=ASSESSMENT)).status_code == 201
    session_id, token = await server.create_session("exam-report")
    async with server.candidate(session_id, token) as peer:
        await peer.event(1, "tab_switch_detected")
        await peer.acked(1)
    async with server.http(token=token) as own:
        answers = [
            {"questionId": "q1", "response": {"answer": "Paris"}, "timeSpent": 12},
            {"questionId": "q2", "response": {"answer": "Milan"}, "timeSpent": 20},
        ]
        submitted = await own.post(
            f"/candidate-sessions/{session_id}/submit", json={"answers": answers}
        )
        assert submitted.status_code == 200, submitted.text
    async with server.http() as admin:
        review = {"decision": "reject", "reason": "A second voice on the recording."}
        reviewed = await admin.post(f"/candidate-sessions/{session_id}/review", json=review)
        assert reviewed.status_code == 200, reviewed.text
        report = (await admin.get(f"/candidate-sessions/{session_id}/report")).json()
        page = (await admin.get(f"/candidate-sessions/{session_id}/report?format=html")).text
    assert report["review"]["status"] == "rejected" and report["recommendation"] == "accept"
    assert [a["score"] for a in report["answers"]] == [1, 0]
    assert report["scoreSummary"]["passStatus"] is True  # 50% against a pass mark of 50
    assert 0 <= report["complianceScore"] < 100
    assert "Reviewer's verdict: <b>Rejected</b>" in page and "A second voice" in page
    assert "<b>Accept the results</b> (accept)" in page
    assert "<b class='pass'>passed</b>" in page and "Milan" in page and "0 / 1" in page
    events = page.split("<h2>Events</h2>", 1)[1]
    assert "tab switch detected" in events and "session reviewed" in events
    assert "{" not in events.split("<script", 1)[0]  # words, not raw JSON
    assert "<time datetime=" in page


async def test_a_flagged_frame_is_captioned_with_its_event(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as admin:
        raw = (await admin.get(f"/candidate-sessions/{session_id}/report")).content
    report = msgspec.json.decode(raw, type=ProctorAnalysisReport)
    signed = f"/candidate-sessions/{session_id}/frames/7.jpg?expires=1&signature=ab"
    findings = msgspec.structs.replace(
        report.detailedFindings, flaggedFrames=[signed], flaggedFrameEvents=[7]
    )
    report = msgspec.structs.replace(report, detailedFindings=findings)
    vision = StoredEvent(
        type="face_not_detected", offset=9, ts="2026-12-07T10:00:00.000Z",
        data={"frameId": "7"}, origin="vision",
    )  # fmt: skip
    page = report_page(report, [vision], {signed: b"\xff\xd8jpeg\xff\xd9"})
    caption = page.split("<figcaption>", 1)[1].split("</figcaption>", 1)[0]
    assert caption.startswith("face not detected (event 9) at <time")
    assert "?" not in caption
