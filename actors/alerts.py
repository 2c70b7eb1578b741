"""Which alerts a stored event raises: one per violation, one per intervention (a proctor's or a
rule's), one per `alert_raised`. Pure, so the `alerts` channel and the report list the same
alerts: each is derived from a stored event and carries it, offset included."""

from __future__ import annotations

from typing import Final

from actors import outbound
from actors.alert_rules import ALERT_RAISED
from actors.events import INTERVENTION, StoredEvent
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
