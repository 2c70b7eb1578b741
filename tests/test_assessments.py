"""Assessments over a real server: defining them, grading a session by them (answers over the
real candidate WebSocket and the REST submit, grades by hand) and document 002's report."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support import Peer, RunningServer

pytestmark = pytest.mark.anyio

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

SIMPLE: dict[str, Any] = {"id": "simple", "questions": [{"id": "q1", "correctAnswer": "yes"}]}
# The defaults the server fills in, as it answers them.
SIMPLE_STORED = {
    "id": "simple",
    "title": "",
    "questions": [
        {
            "id": "q1",
            "category": "general",
            "maxScore": 1.0,
            "correctAnswer": "yes",
            "difficulty": None,
        }
    ],
    "passMark": 50.0,
    # Exam control (contract section 9.3): no time limit, camera required, global alert rules.
    "durationSeconds": None,
    "camera": "required",
    "proctoring": None,
}

EXAM_ID = "backend-2024.1"
EXAM: dict[str, Any] = {
    "id": EXAM_ID,
    "title": "Backend engineer",
    "passMark": 55,
    "questions": [
        {"id": "q1", "category": "technical", "maxScore": 10, "correctAnswer": "Paris", "difficulty": "easy"},
        {"id": "q2", "category": "technical", "maxScore": 20, "correctAnswer": 42, "difficulty": "medium"},
        {"id": "q3", "category": "technical", "maxScore": 20, "correctAnswer": ["a", "c"], "difficulty": "hard"},
        {"id": "q4", "category": "behavioral", "maxScore": 30, "difficulty": "medium"},  # by hand
        {"id": "q5", "category": "behavioral", "maxScore": 20, "correctAnswer": True},
    ],
}  # fmt: skip
# Client timestamps of the socket events; the REST violation's below.
T_ANSWER_1, T_ANSWER_2, T_ANSWER_3 = (
    "2024-01-15T10:00:00.000Z",
    "2024-01-15T10:01:00.000Z",
    "2024-01-15T10:02:00.000Z",
)
T_TAB_SWITCH = "2024-01-15T10:03:00.000Z"
T_COPY = "2024-01-15T10:25:30.000Z"
SUBMIT = {
    "answers": [
        {"questionId": "q3", "response": ["a", "b"], "timeSpent": 90},  # wrong: ["a", "c"]
        {"questionId": "q4", "response": "I would ask the team first.", "timeSpent": 300},
    ],  # q5 is never answered
    "totalTimeSpent": 900,
}
ANSWER_KEYS = (
    "questionId", "response", "timeSpent", "attempts", "score", "maxScore", "percentage",
    "scoringMethod", "category", "difficulty",
)  # fmt: skip


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


async def define(server: RunningServer, body: dict[str, Any]) -> httpx.Response:
    async with server.http() as client:
        return await client.post("/assessments", json=body)


async def detail(server: RunningServer, session_id: str) -> dict[str, Any]:
    async with server.http() as client:
        response = await client.get(f"/candidate-sessions/{session_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def report(server: RunningServer, session_id: str) -> dict[str, Any]:
    async with server.http() as client:
        response = await client.get(f"/candidate-sessions/{session_id}/report")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_grade(
    server: RunningServer, session_id: str, body: dict[str, Any], token: str | None = None
) -> httpx.Response:
    async with server.http() if token is None else server.http(token=token) as client:
        return await client.post(f"/candidate-sessions/{session_id}/grades", json=body)


def answers_of(session: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(answer[key] for key in ANSWER_KEYS) for answer in session["answers"]]


# --- defining assessments ----------------------------------------------------------------------


async def test_an_assessment_is_defined_and_read_back(server: RunningServer) -> None:
    created = await define(server, SIMPLE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert ISO_MS.match(body.pop("createdAt"))
    assert body == SIMPLE_STORED
    async with server.http() as client:
        fetched = await client.get("/assessments/simple")
    assert fetched.status_code == 200 and fetched.json() == created.json()


async def test_a_full_definition_is_kept_as_sent(server: RunningServer) -> None:
    created = await define(server, EXAM)
    assert created.status_code == 201, created.text
    body = created.json()
    body.pop("createdAt")
    # Integers come back as the floats the schema holds; nothing else changes.
    assert body == {
        **EXAM,
        "durationSeconds": None,
        "camera": "required",
        "proctoring": None,
        "passMark": 55.0,
        "questions": [
            {"difficulty": None, **question, "maxScore": float(question["maxScore"])}
            | ({} if "correctAnswer" in question else {"correctAnswer": None})
            for question in EXAM["questions"]
        ],
    }


async def test_an_assessment_cannot_be_redefined(server: RunningServer) -> None:
    first = await define(server, SIMPLE)
    assert first.status_code == 201
    again = await define(server, {**SIMPLE, "title": "changed", "passMark": 90})
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_exists" and error_of(again)["field"] == "id"
    same = await define(server, SIMPLE)  # the very same body is no exception
    assert same.status_code == 409
    async with server.http() as client:
        stored = await client.get("/assessments/simple")
        listed = await client.get("/assessments")
    assert stored.json() == first.json()
    assert listed.json() == [first.json()]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "bad", "questions": [{"id": "q1", "maxScore": 0}]}, "questions[0].maxScore"),
        ({"id": "bad", "questions": [{"id": "q1"}, {"id": "q2", "maxScore": -5}]}, "questions[1].maxScore"),
        ({"id": "bad", "questions": []}, "questions"),
        ({"id": "bad"}, "questions"),
        ({"questions": [{"id": "q1"}]}, "id"),
        ({"id": "two words", "questions": [{"id": "q1"}]}, "id"),
        ({"id": "bad", "questions": [{"id": ""}]}, "questions[0].id"),
        ({"id": "bad", "questions": [{"id": "q1", "category": ""}]}, "questions[0].category"),
        ({"id": "bad", "questions": [{"id": "q1"}], "passMark": 101}, "passMark"),
        ({"id": "bad", "questions": [{"id": "q1"}], "passMark": "half"}, "passMark"),
        ({"id": "bad", "questions": {"id": "q1"}}, "questions"),
    ],
)  # fmt: skip
async def test_bad_definitions_are_422_and_store_nothing(
    server: RunningServer, body: dict[str, Any], field: str
) -> None:
    response = await define(server, body)
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid_body"
    assert error_of(response)["field"] == field
    async with server.http() as client:
        assert (await client.get("/assessments")).json() == []


async def test_duplicate_question_ids_are_422(server: RunningServer) -> None:
    body = {"id": "dup", "questions": [{"id": "q1"}, {"id": "q2"}, {"id": "q1"}]}
    response = await define(server, body)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_body"
    assert "'q1' appears twice" in error["message"] and error["field"] == "questions[2].id"
    async with server.http() as client:
        assert (await client.get("/assessments/dup")).status_code == 404


async def test_malformed_json_is_400(server: RunningServer) -> None:
    async with server.http() as client:
        response = await client.post("/assessments", content=b"{")
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"


async def test_an_unknown_assessment_is_404(server: RunningServer) -> None:
    async with server.http() as client:
        response = await client.get("/assessments/nope")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


async def test_assessments_are_listed_in_id_order_and_paged(server: RunningServer) -> None:
    for assessment_id in ("c", "a", "d", "b"):
        assert (await define(server, {**SIMPLE, "id": assessment_id})).status_code == 201
    async with server.http() as client:
        everything = await client.get("/assessments")
        assert [a["id"] for a in everything.json()] == ["a", "b", "c", "d"]
        assert "X-Next-Cursor" not in everything.headers
        first = await client.get("/assessments", params={"limit": 2})
        assert [a["id"] for a in first.json()] == ["a", "b"]
        assert first.headers["X-Next-Cursor"] == "b"
        second = await client.get("/assessments", params={"limit": 2, "after": "b"})
        assert [a["id"] for a in second.json()] == ["c", "d"]
        assert "X-Next-Cursor" not in second.headers  # exactly the rest: no further page
        tail = await client.get("/assessments", params={"after": "c"})
        assert [a["id"] for a in tail.json()] == ["d"]
        assert (await client.get("/assessments", params={"after": "d"})).json() == []
        for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "many"}):
            refused = await client.get("/assessments", params=bad)
            assert refused.status_code == 422, bad
            assert error_of(refused)["code"] == "invalid_query"
            assert error_of(refused)["field"] == "limit"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/assessments"), ("GET", "/assessments"), ("GET", "/assessments/simple")],
)
async def test_assessments_are_for_admins_only(
    server: RunningServer, method: str, path: str
) -> None:
    assert (await define(server, SIMPLE)).status_code == 201
    _, token = await server.create_session(assessment_id="simple")
    body = {**SIMPLE, "id": "other"} if method == "POST" else None
    async with server.http(token=token) as client:
        response = await client.request(method, path, json=body)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    async with server.http(token=None) as client:
        assert (await client.request(method, path, json=body)).status_code == 401
    async with server.http() as client:
        assert [a["id"] for a in (await client.get("/assessments")).json()] == ["simple"]


# --- a session graded by its assessment ----------------------------------------------------------


async def answer_over_the_socket(candidate: Peer) -> None:
    """q1 wrong, q2 right, q1 changed to right (the final answer counts), one tab switch."""
    await candidate.event(
        1, "answer_submitted", ts=T_ANSWER_1, questionId="q1",
        data={"response": {"answer": "London"}, "timeSpent": 20},
    )  # fmt: skip
    await candidate.event(
        2, "answer_submitted", ts=T_ANSWER_2, questionId="q2",
        data={"response": "42", "timeSpent": 30},
    )  # fmt: skip
    await candidate.event(
        3, "answer_submitted", ts=T_ANSWER_3, questionId="q1",
        data={"response": "  PARIS ", "timeSpent": 12},
    )  # fmt: skip
    await candidate.event(4, "tab_switch_detected", ts=T_TAB_SWITCH)
    await candidate.acked(4)


async def report_a_copy(server: RunningServer, session_id: str, token: str) -> None:
    async with server.http(token=token) as client:
        response = await client.post(
            f"/candidate-sessions/{session_id}/violations",
            json={"type": "COPY_PASTE", "severity": "LOW", "timestamp": "2024-01-15T10:25:30Z"},
        )
    assert response.status_code == 201, response.text


async def submit(server: RunningServer, session_id: str, token: str) -> None:
    async with server.http(token=token) as client:
        response = await client.post(f"/candidate-sessions/{session_id}/submit", json=SUBMIT)
    assert response.status_code == 200, response.text


# Graded answers, in the order they were given; (questionId, response, timeSpent, attempts,
# score, maxScore, percentage, scoringMethod, category, difficulty).
ANSWERS_BEFORE_GRADING = [
    ("q1", {"answer": "London"}, 20, 1, 0, 10, 0, "auto", "technical", "easy"),
    ("q2", "42", 30, 1, 20, 20, 100, "auto", "technical", "medium"),  # "42" == 42
    ("q1", "  PARIS ", 12, 2, 10, 10, 100, "auto", "technical", "easy"),
    ("q3", ["a", "b"], 90, 1, 0, 20, 0, "auto", "technical", "hard"),
    ("q4", "I would ask the team first.", 300, 1, None, 30, None, "manual", "behavioral", "medium"),
]  # fmt: skip


async def test_a_session_is_graded_by_its_assessment(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, token = await server.create_session(assessment_id=EXAM_ID)
    async with server.candidate(session_id, token) as candidate:
        await answer_over_the_socket(candidate)
        before = await detail(server, session_id)
        assert before["scoreSummary"] is None  # not submitted yet
        await submit(server, session_id, token)
        submitted = await detail(server, session_id)

    assert answers_of(submitted) == ANSWERS_BEFORE_GRADING
    summary = submitted["scoreSummary"]
    # technical: q1 10 (final answer "  PARIS ") + q2 20 + q3 0 = 30 of 10 + 20 + 20 = 50 -> 60%
    # behavioral: q4 waits for a reviewer (0 so far) + q5 unanswered 0 = 0 of 30 + 20 = 50 -> 0%
    # total: 30 of 100 -> 30%
    assert summary["breakdown"] == {
        "technical": {"score": 30, "max": 50, "percentage": 60},
        "behavioral": {"score": 0, "max": 50, "percentage": 0},
        "total": {"score": 30, "max": 100, "percentage": 30},
    }
    assert (summary["totalScore"], summary["maxPossibleScore"], summary["percentage"]) == (
        30,
        100,
        30,
    )
    assert summary["passStatus"] is None and summary["pendingManualGrading"] == 1
    assert summary["passMark"] == 55 and summary["assessmentId"] == EXAM["id"]
    assert summary["id"] == f"{session_id}:score" and summary["sessionId"] == session_id
    assert summary["createdAt"] == submitted["endTime"] == summary["updatedAt"]

    graded = await post_grade(
        server, session_id, {"questionId": "q4", "score": 25, "comment": "clear and honest"}
    )
    assert graded.status_code == 201, graded.text
    answer = graded.json()
    # 25 of 30 = 83.333...% -> 83.33
    assert tuple(answer[key] for key in ANSWER_KEYS) == (
        "q4", "I would ask the team first.", 300, 1, 25, 30, 83.33, "manual", "behavioral",
        "medium",
    )  # fmt: skip

    final = await detail(server, session_id)
    assert answers_of(final) == [*ANSWERS_BEFORE_GRADING[:4], tuple(answer[k] for k in ANSWER_KEYS)]
    summary = final["scoreSummary"]
    # behavioral: q4 25 + q5 0 = 25 of 50 -> 50%; total: 30 + 25 = 55 of 100 -> 55%
    assert summary["breakdown"] == {
        "technical": {"score": 30, "max": 50, "percentage": 60},
        "behavioral": {"score": 25, "max": 50, "percentage": 50},
        "total": {"score": 55, "max": 100, "percentage": 55},
    }
    assert (summary["totalScore"], summary["percentage"]) == (55, 55)
    assert summary["passStatus"] is True  # 55% == passMark 55: the mark itself passes
    assert summary["pendingManualGrading"] == 0
    assert summary["createdAt"] == submitted["endTime"] <= summary["updatedAt"]

    # A second grade replaces the first: 10 of 30 -> behavioral 10/50 = 20%, total 40/100 = 40%.
    assert (
        await post_grade(server, session_id, {"questionId": "q4", "score": 10})
    ).status_code == 201
    regraded = (await detail(server, session_id))["scoreSummary"]
    assert regraded["breakdown"]["total"] == {"score": 40, "max": 100, "percentage": 40}
    assert regraded["passStatus"] is False  # 40 < 55


async def test_grading_errors_change_nothing(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, token = await server.create_session(assessment_id=EXAM_ID)
    async with server.candidate(session_id, token) as candidate:
        await answer_over_the_socket(candidate)
        offset = (await detail(server, session_id))["state"]["lastOffset"]
        assert offset == 4

        early = await post_grade(server, session_id, {"questionId": "q4", "score": 10})
        assert early.status_code == 409 and error_of(early)["code"] == "not_submitted"
        await submit(server, session_id, token)
        offset += 1  # the submission

        refusals: list[tuple[dict[str, Any], int, str, str | None]] = [
            ({"questionId": "q4", "score": 30.5}, 422, "invalid_body", "score"),  # maxScore 30
            ({"questionId": "q4", "score": -1}, 422, "invalid_body", "score"),
            ({"questionId": "q4"}, 422, "invalid_body", "score"),
            ({"questionId": "q1", "score": 5}, 409, "auto_graded", None),
            ({"questionId": "q9", "score": 5}, 422, "invalid_body", "questionId"),
            ({"score": 5}, 422, "invalid_body", "questionId"),
        ]
        for body, status, code, field in refusals:
            response = await post_grade(server, session_id, body)
            assert response.status_code == status, (body, response.text)
            assert error_of(response)["code"] == code, body
            assert error_of(response).get("field") == field, body
        forbidden = await post_grade(server, session_id, {"questionId": "q4", "score": 5}, token)
        assert forbidden.status_code == 403 and error_of(forbidden)["code"] == "forbidden"

        after = await detail(server, session_id)
    assert after["state"]["lastOffset"] == offset
    assert after["scoreSummary"]["pendingManualGrading"] == 1  # q4 is still waiting
    assert after["scoreSummary"]["passStatus"] is None
    exactly_max = await post_grade(server, session_id, {"questionId": "q4", "score": 30})
    assert exactly_max.status_code == 201 and exactly_max.json()["percentage"] == 100


async def test_an_unanswered_manual_question_cannot_be_graded(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, token = await server.create_session(assessment_id=EXAM_ID)
    async with server.http(token=token) as client:
        response = await client.post(
            f"/candidate-sessions/{session_id}/submit",
            json={"answers": [{"questionId": "q2", "response": 42}]},
        )
        assert response.status_code == 200
    refused = await post_grade(server, session_id, {"questionId": "q4", "score": 10})
    assert refused.status_code == 409 and error_of(refused)["code"] == "not_answered"
    summary = (await detail(server, session_id))["scoreSummary"]
    # only q2: 20 of 100; q4 unanswered waits for nobody
    assert (summary["totalScore"], summary["passStatus"], summary["pendingManualGrading"]) == (
        20,
        False,
        0,
    )


async def test_a_session_without_a_defined_assessment_has_no_score(server: RunningServer) -> None:
    session_id, token = await server.create_session(assessment_id="never-defined")
    refused = await post_grade(server, session_id, {"questionId": "q4", "score": 1})
    assert refused.status_code == 409 and error_of(refused)["code"] == "no_assessment"
    await submit(server, session_id, token)
    refused = await post_grade(server, session_id, {"questionId": "q4", "score": 1})
    assert refused.status_code == 409 and error_of(refused)["code"] == "no_assessment"
    session = await detail(server, session_id)
    assert session["status"] == "COMPLETED" and session["scoreSummary"] is None
    # The answers are kept, ungraded.
    assert [(a["questionId"], a["score"], a["scoringMethod"]) for a in session["answers"]] == [
        ("q3", None, None),
        ("q4", None, None),
    ]
    assert session["state"]["lastOffset"] == 1  # the submission only


async def test_grading_an_unknown_session_is_404(server: RunningServer) -> None:
    response = await post_grade(server, "nope", {"questionId": "q4", "score": 1})
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# --- document 002's report -----------------------------------------------------------------------

# Hand-computed scores of the session `answer_over_the_socket` + `report_a_copy` make:
# verification 100 - 8 (tab switch, MEDIUM) - 3 (copy, LOW) = 89 -> trust HIGH (>= 80);
# risk: tab switches 1 * 0.1 = 0.1, weighted 0.1 * 0.30 = 0.03 -> low (< 0.3); no frames, no audio.
VERIFICATION = 89
RISK_BREAKDOWN = {"tabSwitches": 0.1, "faceAnomalies": 0.0, "objectDetections": 0.0, "audioAnomalies": 0.0}  # fmt: skip
RISK_SCORE = 0.03


async def test_the_analysis_report(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, token = await server.create_session(assessment_id=EXAM_ID)
    async with server.candidate(session_id, token) as candidate:
        await answer_over_the_socket(candidate)
        await report_a_copy(server, session_id, token)
        provisional = await report(server, session_id)
        session = await detail(server, session_id)
        async with server.http(token=token) as client:
            refused = await client.get(f"/candidate-sessions/{session_id}/report")
        assert refused.status_code == 403

        await submit(server, session_id, token)
        graded = await post_grade(server, session_id, {"questionId": "q4", "score": 25})
        assert graded.status_code == 201
        finished = await report(server, session_id)
        session_after = await detail(server, session_id)

    for current, view in ((provisional, session), (finished, session_after)):
        assert current["attemptId"] == current["sessionId"] == session_id
        assert current["assessmentId"] == EXAM["id"]
        assert current["overallRiskScore"] == RISK_SCORE == view["risk"]["riskScore"]
        assert current["riskLevel"] == "low" == view["risk"]["riskLevel"]
        assert current["riskBreakdown"] == RISK_BREAKDOWN == view["risk"]["riskBreakdown"]
        # A share of minutes (actors/compliance.py): this session's one minute had violations.
        assert current["complianceScore"] == 0
        assert current["verificationScore"] == view["verification"]["verificationScore"]
        assert current["trustLevel"] == "HIGH" == view["verification"]["trustLevel"]
        findings = current["detailedFindings"]
        # The tab switch's client timestamp and the REST violation's own timestamp, in order.
        assert findings["suspiciousTimestamps"] == [T_TAB_SWITCH, T_COPY]
        assert findings["suspiciousTimestamps"] == sorted(
            v["timestamp"] for v in view["violations"]
        )
        assert findings["flaggedFrames"] == []
        assert any("trust HIGH" in advice for advice in findings["recommendations"])
        assert any("No webcam frames" in advice for advice in findings["recommendations"])
        assert current["violationsByType"] == {"COPY_PASTE": 1, "TAB_SWITCH": 1}
        assert current["violationsBySeverity"] == {"LOW": 1, "MEDIUM": 1}
        assert current["framesAnalyzed"] == 0
        assert current["scoreSummary"] == view["scoreSummary"]

    assert provisional["final"] is False and provisional["status"] == "IN_PROGRESS"
    assert provisional["scoreSummary"] is None and provisional["endTime"] is None
    assert any(
        "provisional" in advice for advice in provisional["detailedFindings"]["recommendations"]
    )

    assert finished["final"] is True and finished["status"] == "COMPLETED"
    assert finished["endTime"] == session_after["endTime"]
    assert not any(
        "provisional" in advice for advice in finished["detailedFindings"]["recommendations"]
    )
    # The report's summary is the graded one: 30 (technical) + 25 (q4) = 55 of 100, passes 55.
    assert finished["scoreSummary"]["breakdown"]["total"] == {
        "score": 55,
        "max": 100,
        "percentage": 55,
    }
    assert finished["scoreSummary"]["passStatus"] is True


async def test_a_report_of_an_unknown_session_is_404(server: RunningServer) -> None:
    async with server.http() as client:
        response = await client.get("/candidate-sessions/nope/report")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


async def test_a_candidate_does_not_see_grades(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, token = await server.create_session(assessment_id=EXAM_ID)
    async with server.candidate(session_id, token) as candidate:
        await answer_over_the_socket(candidate)
    await submit(server, session_id, token)
    async with server.http(token=token) as client:
        own = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert own["scoreSummary"] is None
    assert {a["score"] for a in own["answers"]} == {None}  # not even "this one was wrong"
    assert (await detail(server, session_id))["scoreSummary"] is not None  # the institution's


async def test_answers_after_the_end_are_kept_but_change_no_grade(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, token = await server.create_session(assessment_id=EXAM_ID)
    async with server.candidate(session_id, token) as candidate:
        await answer_over_the_socket(candidate)
        await submit(server, session_id, token)
        graded = (await detail(server, session_id))["scoreSummary"]
        # q3 was answered wrong in the submission; a right answer afterwards is too late.
        await candidate.event(5, "answer_submitted", questionId="q3", data={"response": ["b", "a"]})
        await candidate.acked(5)
    after = await detail(server, session_id)
    assert after["scoreSummary"] == graded
    # 4 socket events, the submission, the late answer: all stored, the last one not counted.
    assert after["state"]["lastOffset"] == 6


async def test_a_terminated_session_cannot_be_submitted(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, _ = await server.create_session(assessment_id=EXAM_ID)
    async with server.http() as client:
        ended = await client.put(f"/candidate-sessions/{session_id}", json={"status": "TERMINATED"})
        assert ended.status_code == 200
        response = await client.post(f"/candidate-sessions/{session_id}/submit", json=SUBMIT)
    assert response.status_code == 409
    assert error_of(response)["code"] == "session_finished"
    stored = await detail(server, session_id)
    assert stored["status"] == "TERMINATED" and stored["scoreSummary"] is None


async def test_a_replayed_grade_answers_the_grade_it_gave(server: RunningServer) -> None:
    assert (await define(server, EXAM)).status_code == 201
    session_id, token = await server.create_session(assessment_id=EXAM_ID)
    await submit(server, session_id, token)
    path = f"/candidate-sessions/{session_id}/grades"
    async with server.http() as client:
        first = await client.post(
            path, json={"questionId": "q4", "score": 25}, headers={"Idempotency-Key": "g1"}
        )
        await client.post(path, json={"questionId": "q4", "score": 10})
        replay = await client.post(
            path, json={"questionId": "q4", "score": 25}, headers={"Idempotency-Key": "g1"}
        )
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["score"] == first.json()["score"] == 25
    assert [
        a["score"] for a in (await detail(server, session_id))["answers"] if a["questionId"] == "q4"
    ] == [10]
