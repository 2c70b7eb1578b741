"""Which alerts a stored event raises: one per violation, one per intervention (a proctor's or a
rule's), one per `alert_raised`, one per vision episode that is no violation (looking away, an
object, an unusable camera) and one when vision is unavailable. Pure, so the `alerts` channel and the report list the same
alerts: each is derived from a stored event and carries it, offset included."""

from __future__ import annotations

from typing import Final

from actors import outbound
from actors.alert_rules import ALERT_RAISED
from actors.events import (
    CAMERA_UNUSABLE,
    INTERVENTION,
    LOOKING_AWAY,
    OBJECT_DETECTED,
    VISION_UNAVAILABLE,
    StoredEvent,
)
from actors.scoring import Violation

_ACTION_SEVERITY: Final = {
    "warn": "medium",
    "pause": "high",
    "resume": "low",
    "terminate": "critical",
}


def alerts_for(
    session_id: str, assessment_id: str, event: StoredEvent, violations: list[Violation]
) -> list[outbound.Alert]:
    alerts = [
        outbound.Alert(
            sessionId=session_id,
            assessmentId=assessment_id,
            severity=violation.severity.lower(),
            message=_violation_message(violation),
            event=event,
        )
        for violation in violations
    ]
    if event.type == INTERVENTION:
        alerts.append(_intervention_alert(session_id, assessment_id, event))
    elif event.type in _VISION_ALERTS:
        alerts.append(
            outbound.Alert(
                sessionId=session_id,
                assessmentId=assessment_id,
                severity=_VISION_ALERTS[event.type],
                message=_vision_message(event),
                event=event,
            )
        )
    elif event.type == ALERT_RAISED:
        data = event.data or {}
        alerts.append(
            outbound.Alert(
                sessionId=session_id,
                assessmentId=assessment_id,
                severity=str(data.get("severity", "high")),
                message=f"rule {data.get('rule')} ({data.get('category')}): {data.get('message')}",
                event=event,
            )
        )
    return alerts


_VISION_ALERTS: Final = {
    LOOKING_AWAY: "medium",
    OBJECT_DETECTED: "high",
    CAMERA_UNUSABLE: "medium",
    VISION_UNAVAILABLE: "high",
}


def _vision_message(event: StoredEvent) -> str:
    data = event.data or {}
    episode = data.get("episode") or {}
    seconds = f" for {episode['durationMs'] / 1000:.0f} s" if "durationMs" in episode else ""
    if event.type == LOOKING_AWAY:
        return f"looking away from the screen{seconds}"
    if event.type == OBJECT_DETECTED:
        return f"{data.get('label', 'an object')} in view{seconds}"
    if event.type == CAMERA_UNUSABLE:
        return f"camera unusable ({episode.get('reason', 'cannot tell')}){seconds}"
    return f"vision unavailable ({data.get('reason', '')}): manual review required"


def _violation_message(violation: Violation) -> str:
    where = f" on question {violation.questionId}" if violation.questionId else ""
    return f"{violation.type} ({violation.severity}){where}"


def _intervention_alert(session_id: str, assessment_id: str, event: StoredEvent) -> outbound.Alert:
    data = event.data or {}
    action = str(data.get("action", ""))
    by = data.get("by", "server")
    return outbound.Alert(
        sessionId=session_id,
        assessmentId=assessment_id,
        severity=_ACTION_SEVERITY.get(action, "medium"),
        message=f"intervention: {action} by {by}: {data.get('message', '')}".rstrip(": "),
        event=event,
    )
