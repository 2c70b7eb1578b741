"""Document 001's recording endpoints that change a session (CONTRACT.md section 3). Each one
becomes a stored event of the session, through its actor and the journal like a socket event, and
answers only once that event is committed; REST and WebSocket therefore never disagree, and both
reach the admin channels."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.events import AwareDatetime, DeviceInfoData, QuestionId, iso_ms
from actors.messages import RecordEvent
from actors.ports import EventEntry
from actors.question_tracking import TRACKING_REPORTED
from actors.records import (
    BEHAVIOR_REPORTED,
    SCREEN_RECORDING_UPDATED,
    device_record,
    violation_record,
)
from actors.reply import Reply
from actors.scoring import VIOLATION_REPORTED
from app.errors import ApiError
from app.http_io import json_response, now_iso, read_json
from app.rest import (
    actor_errors,
    record_or_404,
    records_of,
    require,
    services_of,
    session_json,
)
from app.services import Services

ViolationType = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Z][A-Z0-9_]*$")
]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class ViolationBody(msgspec.Struct, frozen=True, kw_only=True):
    type: ViolationType
    severity: Literal["LOW", "MEDIUM", "HIGH"]
    description: Text = ""
    timestamp: AwareDatetime | None = None
    questionId: QuestionId | None = None
    metadata: dict[str, Any] | None = None


Count = Annotated[int, msgspec.Meta(ge=0)]
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


async def post_violation(request: Request) -> Response:
    services, session_id = await _admitted(request)
    body = await read_json(request, ViolationBody, services.settings.server.max_body_bytes)
    entry = await _record(
        services,
        session_id,
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
    return json_response(
        violation_record(session_id, entry.event, entry.violations[0], 0), status=201
    )


async def submit(request: Request) -> Response:
    services, session_id = await _admitted(request)
    body = await read_json(request, SubmitBody, services.settings.server.max_body_bytes)
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
    entry = await _record(
        services,
        session_id,
        type="assessment_submitted",
        ts=now,
        data={"answers": answers, "totalTimeSpent": body.totalTimeSpent},
        unless_submitted=True,
    )
    record = await record_or_404(services, session_id)
    return json_response({"success": True, "session": session_json(record, entry.state)})


async def put_device_info(request: Request) -> Response:
    services, session_id = await _admitted(request)
    body = await read_json(request, DeviceInfoData, services.settings.server.max_body_bytes)
    data = msgspec.to_builtins(body)
    entry = await _record(services, session_id, type="device_info", ts=now_iso(), data=data)
    return json_response(device_record(session_id, entry.event.data or {}))


async def put_behavioral_profile(request: Request) -> Response:
    services, session_id = await _admitted(request)
    body = await read_json(request, BehaviorBody, services.settings.server.max_body_bytes)
    await _record(services, session_id, type=BEHAVIOR_REPORTED, ts=now_iso(), data=_fields(body))
    _, records = await records_of(services, session_id)
    return json_response(records["sessionBehavior"])


async def put_screen_recording(request: Request) -> Response:
    services, session_id = await _admitted(request)
    body = await read_json(request, ScreenRecordingBody, services.settings.server.max_body_bytes)
    data = _fields(body)
    for key in ("recordingStartTime", "recordingEndTime"):
        if key in data:
            data[key] = iso_ms(getattr(body, key))
    await _record(services, session_id, type=SCREEN_RECORDING_UPDATED, ts=now_iso(), data=data)
    _, records = await records_of(services, session_id)
    return json_response(records["screenRecording"])


async def put_tracking_data(request: Request) -> Response:
    services, session_id = await _admitted(request)
    body = await read_json(request, TrackingBody, services.settings.server.max_body_bytes)
    data = _fields(body)
    question = data.pop("questionId")
    await _record(
        services, session_id, type=TRACKING_REPORTED, ts=now_iso(), questionId=question, data=data
    )
    _, records = await records_of(services, session_id)
    tracked = {record["questionId"]: record for record in records["questionTracking"]}
    return json_response(tracked[question])


def _fields(body: msgspec.Struct) -> dict[str, Any]:
    """The fields a PUT body names; an empty one is refused (it would record nothing)."""
    data: dict[str, Any] = msgspec.to_builtins(body)
    if not data:
        raise ApiError(422, "invalid_body", "send at least one field to update")
    return data


async def _admitted(request: Request) -> tuple[Services, str]:
    """Auth (admin, or this session's candidate) and 404, before the body is even read."""
    services = services_of(request)
    session_id = request.path_params["session_id"]
    await require(request, services, session_id, candidate_ok=True)
    await record_or_404(services, session_id)
    return services, session_id


async def _record(services: Services, session_id: str, **fields: Any) -> EventEntry:
    reply: Reply[EventEntry] = Reply()
    with actor_errors(session_id):
        return await services.registry.ask(
            session_id, RecordEvent(origin="rest", reply=reply, **fields), reply
        )


ROUTES = [
    Route("/candidate-sessions/{session_id}/violations", post_violation, methods=["POST"]),
    Route("/candidate-sessions/{session_id}/submit", submit, methods=["POST"]),
    Route("/candidate-sessions/{session_id}/device-info", put_device_info, methods=["PUT"]),
    Route(
        "/candidate-sessions/{session_id}/behavioral-profile",
        put_behavioral_profile,
        methods=["PUT"],
    ),
    Route(
        "/candidate-sessions/{session_id}/screen-recording", put_screen_recording, methods=["PUT"]
    ),
    Route("/candidate-sessions/{session_id}/tracking-data", put_tracking_data, methods=["PUT"]),
]
