"""What an intervention may do and what the candidate is told: by a proctor, by an alert rule,
and again when the candidate reconnects to a paused or terminated session."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from actors import outbound
from actors.alert_rules import ALERT_RAISED, AlertRule
from actors.events import INTERVENTION

# The statuses each action is allowed from.
ALLOWED: Final = {
    "warn": ("IN_PROGRESS", "PAUSED"),
    "pause": ("IN_PROGRESS",),
    "resume": ("PAUSED",),
    "terminate": ("IN_PROGRESS", "PAUSED"),
}


def candidate_message(
    action: str,
    text: str,
    reason: str = "proctor",
    warnings_left: int | None = None,
    timestamp: str | None = None,
) -> bytes:
    """Document 002's ProctorWarning fields (`type, severity, message, action, timestamp`) on
    a warning and a pause, besides Vigil's own."""
    reply: msgspec.Struct
    if action == "warn":
        reply = outbound.Warning(
            message=text or "Please keep to the assessment rules.",
            reason=reason,
            warningsLeft=warnings_left,
            severity="medium" if warnings_left is None or warnings_left > 1 else "high",
            action="warn",
            timestamp=timestamp,
        )
    elif action == "pause":
        reply = outbound.Pause(
            message=text or "A proctor paused the session.",
            reason=reason,
            timestamp=timestamp,
        )
    elif action == "resume":
        reply = outbound.Resume(message=text)
    else:
        reply = outbound.Terminate(reason=text or "A proctor terminated the session.")
    return outbound.encode(reply)


def reminder(status: str) -> bytes | None:
    """What a reconnecting candidate learns at once about a paused or terminated session."""
    if status == "PAUSED":
        return outbound.encode(outbound.Pause(message="The session is paused.", reason="proctor"))
    if status == "TERMINATED":
        return outbound.encode(outbound.Terminate(reason="The session was terminated."))
    return None


def rule_message(rule: AlertRule) -> str:
    if rule.riskLevel is not None:
        return f"The session's risk reached {rule.riskLevel}."
    kind = f"{rule.violation} " if rule.violation else f"{rule.severity} " if rule.severity else ""
    return f"{rule.count} {kind}violation{'s' if rule.count > 1 else ''} recorded."


def rule_event(rule: AlertRule, status: str) -> tuple[str, dict[str, Any]] | None:
    """The event a due rule stores (it marks the rule fired, `lifecycle.fold`); None when its
    action is not allowed now, e.g. pause a session already paused: tried after a later event."""
    message = rule.message or rule_message(rule)
    data: dict[str, Any] = {"rule": rule.name, "category": rule.category, "message": message}
    if rule.action == "alert":
        data["severity"] = rule.alertSeverity
        return ALERT_RAISED, data
    if status in ALLOWED[rule.action]:
        data.update(action=rule.action, by=f"rule:{rule.name}")
        return INTERVENTION, data
    return None
