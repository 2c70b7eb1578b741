"""Document 001's recording endpoints that change a session (CONTRACT.md section 3). Each one
becomes a stored event of the session, through its actor and the journal like a socket event, and
answers only once that event is committed; REST and WebSocket therefore never disagree, and both
reach the admin channels."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.bounds import MAX_SECONDS, Count
from actors.events import AwareDatetime, DeviceInfoData, QuestionId, iso_ms
from actors.question_tracking import TRACKING_REPORTED
from actors.record_types import (
    AntiCheatViolation,
    CandidateAnswer,
    DeviceInfo,
    QuestionTracking,
    ScreenRecordingData,
    SessionBehavior,
)
from actors.records import (
    ANSWER_GRADED,
    BEHAVIOR_REPORTED,
    SCREEN_RECORDING_UPDATED,
    violation_record,
)
from actors.scoring import VIOLATION_REPORTED
from app.access.tokens import Access
from app.http.answers import SubmitResult, candidate_session
from app.http.bodies import decode_json, json_response, now_iso
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import SessionCall, SessionCalls, replayed_if
from app.storage.store import SqliteStore

ViolationType = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Z][A-Z0-9_]*$")
]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]


class ViolationBody(msgspec.Struct, frozen=True, kw_only=True):
    type: ViolationType
    severity: Literal["LOW", "MEDIUM", "HIGH"]
    description: Text = ""
    timestamp: AwareDatetime | None = None
    questionId: QuestionId | None = None
    metadata: dict[str, Any] | None = None


Url = Annotated[str, msgspec.Meta(max_length=2048)]
Label = Annotated[str, msgspec.Meta(max_length=64)]


class BehaviorBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Document 001's SessionBehavior fields, as the client measured them."""

    totalTabSwitches: Count | None = None
    totalCopyPasteAttempts: Count | None = None
    totalFullscreenExits: Count | None = None
    totalIdleTime: NonNegative | None = None
    averageResponseTime: NonNegative | None = None
    questionNavigationPattern: Any = None
    suspiciousActivityCount: Count | None = None
    focusLossCount: Count | None = None
    mouseMovementPattern: Any = None
    keystrokePattern: Any = None
    behavioralScore: float | None = None
    anomalyDetected: bool | None = None


class ScreenRecordingBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Document 001's ScreenRecordingData fields; each PUT updates the ones it names."""

    recordingStartTime: AwareDatetime | None = None
    recordingEndTime: AwareDatetime | None = None
    totalDuration: NonNegative | None = None
    recordingUrl: Url | None = None
    thumbnailUrl: Url | None = None
    fileSize: Count | None = None
    format: Label | None = None
    quality: Label | None = None
    uploadStatus: Literal["PENDING", "UPLOADING", "COMPLETED", "FAILED"] | None = None
    processingStatus: Label | None = None
    facialRecognitionData: Any = None


class TrackingBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Document 001's QuestionTracking fields for one question, as the client measured them."""

    questionId: QuestionId
    timeSpent: NonNegative | None = None
    attempts: Count | None = None
    revisitCount: Count | None = None
    changedAnswerCount: Count | None = None
    focusLossEvents: Count | None = None
    copyPasteAttempts: Count | None = None
    tabSwitches: Count | None = None
    skipped: bool | None = None
    flagged: bool | None = None
    metadata: dict[str, Any] | None = None


class SubmittedAnswer(msgspec.Struct, frozen=True, kw_only=True):
    questionId: QuestionId
    response: Any = None
    timeSpent: NonNegative = 0
    submittedAt: AwareDatetime | None = None


class SubmitBody(msgspec.Struct, frozen=True, kw_only=True):
    answers: Annotated[list[SubmittedAnswer], msgspec.Meta(max_length=10_000)] = []
    totalTimeSpent: NonNegative = 0


class GradeBody(msgspec.Struct, frozen=True, kw_only=True):
    questionId: QuestionId
    score: Annotated[float, msgspec.Meta(ge=0, le=1_000_000)]
    comment: Text = ""


class RecordingRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(self, calls: SessionCalls, store: SqliteStore) -> None:
        self._calls = calls
        self._store = store

    async def post_violation(self, request: Request) -> Response:
        call = await self._calls.admitted(request)
        async with call.attempt(201) as attempt:
            if attempt.replay is None:
                body = decode_json(call.raw, ViolationBody)
                entry = await call.store_event(
                    attempt,
                    type=VIOLATION_REPORTED,
                    ts=iso_ms(body.timestamp) if body.timestamp else now_iso(),
                    questionId=body.questionId,
                    data={
                        "type": body.type,
                        "severity": body.severity,
                        "description": body.description,
                        "metadata": body.metadata or {},
                    },
                )
                answer = violation_record(call.session_id, entry.event, entry.violations[0], 0)
            else:
                # Derived again from the stored event: the same record the first answer gave.
                offset = attempt.replay.offset
                _, records = await call.records()
                answer = next(
                    v for v in records.violations if v.id == f"{call.session_id}:{offset}:0"
                )
            return replayed_if(attempt, json_response(answer, status=201))

    async def submit(self, request: Request) -> Response:
        call = await self._calls.admitted(request)
        async with call.attempt(200) as attempt:
            if attempt.replay is None:
                body = decode_json(call.raw or b"{}", SubmitBody)  # every field is optional
                now = now_iso()
                answers = [
                    {
                        "questionId": answer.questionId,
                        "response": answer.response,
                        "timeSpent": answer.timeSpent,
                        "submittedAt": iso_ms(answer.submittedAt) if answer.submittedAt else now,
                    }
                    for answer in body.answers
                ]
                await call.store_event(
                    attempt,
                    type="assessment_submitted",
                    ts=now,
                    data={"answers": answers, "totalTimeSpent": body.totalTimeSpent},
                    unless_submitted=True,
                )
            view = await call.view()
            result = SubmitResult(success=True, session=candidate_session(call.record, view.state))
            return replayed_if(attempt, json_response(result))

    async def put_device_info(self, request: Request) -> Response:
        call = await self._calls.admitted(request)
        async with call.attempt(200) as attempt:
            if attempt.replay is None:
                data = msgspec.to_builtins(decode_json(call.raw, DeviceInfoData))
                if call.access is Access.CANDIDATE and request.client is not None:
                    # The candidate's own browser called: its address counts like the socket's. An
                    # institution's backend (admin token) calls from its own address: no signal.
                    data["ipAddress"] = request.client.host
                await call.store_event(attempt, type="device_info", ts=now_iso(), data=data)
            _, records = await call.records()
            return replayed_if(attempt, json_response(records.deviceInfo))

    async def put_behavioral_profile(self, request: Request) -> Response:
        call = await self._calls.admitted(request)
        async with call.attempt(200) as attempt:
            if attempt.replay is None:
                data = _fields(decode_json(call.raw, BehaviorBody))
                await call.store_event(attempt, type=BEHAVIOR_REPORTED, ts=now_iso(), data=data)
            _, records = await call.records()
            return replayed_if(attempt, json_response(records.sessionBehavior))

    async def put_screen_recording(self, request: Request) -> Response:
        call = await self._calls.admitted(request)
        async with call.attempt(200) as attempt:
            if attempt.replay is None:
                body = decode_json(call.raw, ScreenRecordingBody)
                data = _fields(body)
                for key in ("recordingStartTime", "recordingEndTime"):
                    if key in data:
                        data[key] = iso_ms(getattr(body, key))
                await call.store_event(
                    attempt, type=SCREEN_RECORDING_UPDATED, ts=now_iso(), data=data
                )
            _, records = await call.records()
            return replayed_if(attempt, json_response(records.screenRecording))

    async def put_tracking_data(self, request: Request) -> Response:
        call = await self._calls.admitted(request)
        question = ""
        async with call.attempt(200) as attempt:
            if attempt.replay is None:
                data = _fields(decode_json(call.raw, TrackingBody))
                question = data.pop("questionId")
                await call.store_event(
                    attempt, type=TRACKING_REPORTED, ts=now_iso(), questionId=question, data=data
                )
            else:
                question = decode_json(call.raw, TrackingBody).questionId  # the same body
            _, records = await call.records()
            tracked = {record.questionId: record for record in records.questionTracking}
            return replayed_if(attempt, json_response(tracked[question]))

    async def post_grade(self, request: Request) -> Response:
        """A reviewer's score for an answer to a question the assessment grades by hand."""
        call = await self._calls.admitted(request, allow="reviewer")
        async with call.attempt(201) as attempt:
            body = decode_json(call.raw, GradeBody)
            if attempt.replay is None:
                await self._check_gradable(call, body)
                await call.store_event(
                    attempt,
                    type=ANSWER_GRADED,
                    ts=now_iso(),
                    questionId=body.questionId,
                    data={"score": body.score, "comment": body.comment, "by": "admin"},
                )
            # A replay answers the grade as it was given, not as later grades changed it.
            up_to = None if attempt.replay is None else attempt.replay.offset
            _, records = await call.records(up_to=up_to)
            answer = [a for a in records.answers if a.questionId == body.questionId][-1]
            return replayed_if(attempt, json_response(answer, status=201))

    async def _check_gradable(self, call: SessionCall, body: GradeBody) -> None:
        assessment = await self._store.assessment(call.record.assessmentId)
        if assessment is None:
            raise ApiError(
                409,
                "no_assessment",
                f"assessment {call.record.assessmentId!r} was never defined; "
                "POST /assessments first",
            )
        question = assessment.question(body.questionId)
        if question is None:
            raise ApiError(
                422,
                "invalid_body",
                f"the assessment has no question {body.questionId!r}",
                "questionId",
            )
        if question.auto_graded:
            raise ApiError(
                409, "auto_graded",
                f"question {body.questionId!r} has a correct answer: it is graded "
                "automatically",
            )  # fmt: skip
        if body.score > question.maxScore:
            raise ApiError(
                422, "invalid_body", f"score {body.score:g} exceeds the question's maxScore "
                f"{question.maxScore:g}", "score",
            )  # fmt: skip
        view, records = await call.records()
        if not view.record.submitted:
            raise ApiError(409, "not_submitted", "answers are graded once the session is submitted")
        if not any(answer.questionId == body.questionId for answer in records.answers):
            raise ApiError(
                409, "not_answered", f"question {body.questionId!r} was not answered; it scores 0"
            )


def _fields(body: msgspec.Struct) -> dict[str, Any]:
    """The fields a PUT body names; an empty one is refused (it would record nothing)."""
    data: dict[str, Any] = msgspec.to_builtins(body)
    if not data:
        raise ApiError(422, "invalid_body", "send at least one field to update")
    return data


SESSION = "/candidate-sessions/{session_id}"
_WRITE_ERRORS = (400, 404, 409, 413, 422)
ENDPOINTS = [
    Endpoint(
        "POST", f"{SESSION}/violations", RecordingRoutes.post_violation, "Report a violation",
        AntiCheatViolation, status=201, body=ViolationBody, auth="candidate",
        errors=_WRITE_ERRORS, idempotent_key=True,
    ),
    Endpoint(
        "POST", f"{SESSION}/submit", RecordingRoutes.submit, "Submit the assessment", SubmitResult,
        body=SubmitBody, body_rule="optional", auth="candidate", errors=_WRITE_ERRORS,
        idempotent_key=True,
    ),
    Endpoint(
        "PUT", f"{SESSION}/device-info", RecordingRoutes.put_device_info, "Report the device",
        DeviceInfo, body=DeviceInfoData, auth="candidate", errors=_WRITE_ERRORS,
        idempotent_key=True,
    ),
    Endpoint(
        "PUT", f"{SESSION}/behavioral-profile", RecordingRoutes.put_behavioral_profile,
        "Report behaviour the client measured", SessionBehavior, body=BehaviorBody,
        body_rule="nonempty", auth="candidate", errors=_WRITE_ERRORS, idempotent_key=True,
    ),
    Endpoint(
        "PUT", f"{SESSION}/screen-recording", RecordingRoutes.put_screen_recording,
        "Report the screen recording", ScreenRecordingData, body=ScreenRecordingBody,
        body_rule="nonempty", auth="candidate", errors=_WRITE_ERRORS, idempotent_key=True,
    ),
    Endpoint(
        "PUT", f"{SESSION}/tracking-data", RecordingRoutes.put_tracking_data,
        "Report what the client measured on a question", QuestionTracking, body=TrackingBody,
        auth="candidate", errors=_WRITE_ERRORS, idempotent_key=True,
    ),
    Endpoint(
        "POST", f"{SESSION}/grades", RecordingRoutes.post_grade, "Grade an answer by hand",
        CandidateAnswer, status=201, body=GradeBody, errors=_WRITE_ERRORS, idempotent_key=True,
        auth="reviewer",
    ),
]  # fmt: skip
