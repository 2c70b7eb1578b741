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
            violations.append(_violation(session_id, event, violation, index, data))
        if event.type == "answer_submitted" and event.questionId is not None:
            attempts[event.questionId] = attempts.get(event.questionId, 0) + 1
            answers.append(
                {
                    "id": f"{session_id}:{event.offset}",
                    "sessionId": session_id,
                    "questionId": event.questionId,
                    "response": data.get("response"),
                    "timeSpent": data.get("timeSpent", 0),
                    "submittedAt": event.ts,
                    "attempts": attempts[event.questionId],
                }
            )
        elif event.type == "device_info":
            device = {"id": f"{session_id}:device", "sessionId": session_id, **data}
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


def _violation(
    session_id: str,
    event: StoredEvent,
    violation: scoring.Violation,
    index: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    description = _DESCRIPTIONS.get(violation.type, violation.type.replace("_", " ").capitalize())
    if violation.type != scoring.MULTIPLE_VIOLATIONS and event.type == scoring.VIOLATION_REPORTED:
        description = str(data.get("description") or description)
    return {
        "id": f"{session_id}:{event.offset}:{index}",
        "sessionId": session_id,
        "type": violation.type,
        "description": description,
        "timestamp": event.ts,
        "questionId": violation.questionId,
        "severity": violation.severity,
        "details": {"event": event.type, "offset": event.offset, **({} if index else data)},
        "resolved": False,
    }
