"""Document 001's related records of a session, derived from its stored events.

Derived, not stored: the event log is the one source of truth, so REST, WebSocket and replays can
never disagree about what happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from actors import scoring
from actors.config import ScoringConfig
from actors.events import INTERVENTION, USER_DISCONNECTED, StoredEvent
from actors.lifecycle import fold
from actors.state import SessionSnapshot

_DESCRIPTIONS: Final = {
    "TAB_SWITCH": "Candidate switched to another tab",
    "COPY_PASTE": "Copy or paste was attempted",
    "FULLSCREEN_EXIT": "Candidate exited fullscreen mode",
    "FOCUS_LOSS": "The assessment window lost focus",
    "DEVTOOLS_OPENED": "Developer tools were opened",
    "RIGHT_CLICK": "Right click was attempted",
    "MULTIPLE_TABS": "The assessment is open in more than one tab",
    "EXCESSIVE_IDLE": "Candidate was idle",
    "RECORDING_FAILURE": "Screen recording stopped",
    "FACE_NOT_DETECTED": "No face was visible to the camera",
    "MULTIPLE_FACES": "More than one face was visible to the camera",
    scoring.MULTIPLE_VIOLATIONS: "Three or more violations on the same question",
}


def related_records(
    config: ScoringConfig, session_id: str, events: Iterable[StoredEvent], connected: bool
) -> dict[str, Any]:
    record = SessionSnapshot()
    answers: list[dict[str, Any]] = []
    attempts: dict[str, int] = {}
    violations: list[dict[str, Any]] = []
    device: dict[str, Any] | None = None
    idle_seconds = 0.0
    focused = True
    for event in events:
        raised = fold(config, record, event)
        data = event.data or {}
        for index, violation in enumerate(raised):
            violations.append(violation_record(session_id, event, violation, index))
        if event.type == "answer_submitted" and event.questionId is not None:
            answers.append(
                _answer(session_id, f"{event.offset}", event.questionId, data, event.ts, attempts)
            )
        elif event.type == "assessment_submitted" and event.origin == "rest":
            for index, answer in enumerate(data.get("answers", ())):  # validated by the REST submit
                submitted_at = answer.get("submittedAt") or event.ts
                answers.append(
                    _answer(
                        session_id,
                        f"{event.offset}.{index}",
                        answer["questionId"],
                        answer,
                        submitted_at,
                        attempts,
                    )
                )
        elif event.type == "device_info":
            device = device_record(session_id, data)
        elif event.type == "idle_detected":
            idle_seconds += float(data.get("seconds", 0))
        elif event.type in ("focus_lost", "tab_switch_detected"):
            focused = False
        elif event.type not in (INTERVENTION, USER_DISCONNECTED, "heartbeat"):
            focused = True
    by_type = record.score.by_type
    answered = [a["timeSpent"] for a in answers]
    return {
        "answers": answers,
        "violations": violations,
        "deviceInfo": device,
        "sessionBehavior": {
            "sessionId": session_id,
            "totalTabSwitches": record.score.tab_switches,
            "totalCopyPasteAttempts": by_type.get("COPY_PASTE", 0),
            "totalFullscreenExits": by_type.get("FULLSCREEN_EXIT", 0),
            "totalIdleTime": idle_seconds,
            "averageResponseTime": sum(answered) / len(answered) if answered else 0,
            "suspiciousActivityCount": record.score.violations,
            "focusLossCount": by_type.get("FOCUS_LOSS", 0),
            "anomalyDetected": record.score.by_severity.get("HIGH", 0) > 0,
        },
        "monitoring": {
            "sessionId": session_id,
            "currentQuestionId": record.score.current_question,
            "isActive": connected and record.status == "IN_PROGRESS",
            "lastActivityTimestamp": record.lastEventAt,
            "currentFocusState": "FOCUSED" if focused else "BLURRED",
            "warningsIssued": record.warningsIssued,
            "connectionStatus": "CONNECTED" if connected else "DISCONNECTED",
        },
        "screenRecording": None,
        "questionTracking": [],
        "scoreSummary": None,
    }


def _answer(
    session_id: str,
    key: str,
    question: str,
    data: dict[str, Any],
    submitted_at: str,
    attempts: dict[str, int],
) -> dict[str, Any]:
    attempts[question] = attempts.get(question, 0) + 1
    return {
        "id": f"{session_id}:{key}",
        "sessionId": session_id,
        "questionId": question,
        "response": data.get("response"),
        "timeSpent": data.get("timeSpent", 0),
        "submittedAt": submitted_at,
        "attempts": attempts[question],
    }


def device_record(session_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{session_id}:device", "sessionId": session_id, **data}


def violation_record(
    session_id: str, event: StoredEvent, violation: scoring.Violation, index: int
) -> dict[str, Any]:
    """Document 001's AntiCheatViolation for the `index`th violation `event` raised."""
    data = event.data or {}
    description = _DESCRIPTIONS.get(violation.type, violation.type.replace("_", " ").capitalize())
    reported = (
        event.type == scoring.VIOLATION_REPORTED and violation.type != scoring.MULTIPLE_VIOLATIONS
    )
    if reported:
        description = str(data.get("description") or description)
        extra = data.get("metadata") or {}
    else:
        extra = {} if index else data
    return {
        "id": f"{session_id}:{event.offset}:{index}",
        "sessionId": session_id,
        "type": violation.type,
        "description": description,
        "timestamp": event.ts,
        "questionId": violation.questionId,
        "severity": violation.severity,
        "details": {"event": event.type, "offset": event.offset, **extra},
        "resolved": False,
    }
