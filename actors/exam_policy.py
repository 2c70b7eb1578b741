"""The proctoring policy of an assessment (CONTRACT.md section 9.3): which alert rules run, the
escalation a real exam can start from, and what happens when the warnings run out.

`[alerts]` in config.toml stays the default (`escalation = "global"`). `"standard"` is the shipped
escalation: warn at the first violation and again at the third, pause at the second HIGH one
or at a high risk, terminate at the fourth HIGH one; at `maxWarnings` warnings the session is
paused (`atMaxWarnings`). Everything it does is an ordinary stored event (an `intervention`
made `by` "rule:<name>" or "policy:max_warnings"), so replays agree on what fired.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from actors.alert_rules import AlertRule, AlertsConfig
from actors.state import SessionSnapshot

Escalation = Literal["global", "standard", "none"]
AtMaxWarnings = Literal["nothing", "pause", "terminate"]
MAX_WARNINGS_RULE: Final = "max-warnings"  # marks the max_warnings step fired (firedRules)

STANDARD_RULES: Final = (
    AlertRule(
        name="first-violation",
        action="warn",
        count=1,
        alertSeverity="low",
        message="A rule of this assessment was broken. Please keep to the rules.",
    ),
    AlertRule(
        name="third-violation",
        action="warn",
        count=3,
        alertSeverity="medium",
        message="Several rules of this assessment were broken.",
    ),
    AlertRule(
        name="second-high",
        action="pause",
        severity="HIGH",
        count=2,
        message="The session is paused: two serious violations. Acknowledge to go on.",
    ),
    AlertRule(name="high-risk", action="pause", riskLevel="high", category="integrity"),
    AlertRule(
        name="fourth-high",
        action="terminate",
        severity="HIGH",
        count=4,
        alertSeverity="critical",
        message="The session was ended: four serious violations.",
    ),
    AlertRule(name="critical-risk", action="alert", riskLevel="critical", alertSeverity="critical"),
)


class Proctoring(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`proctoring` on `POST /assessments`."""

    escalation: Escalation = "global"
    maxWarnings: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None  # else [alerts]'s
    # None: "pause" with the standard escalation, else "nothing" (the [alerts] behaviour).
    atMaxWarnings: AtMaxWarnings | None = None


def alerts_for(default: AlertsConfig, proctoring: Proctoring | None) -> AlertsConfig:
    """The alert rules and max_warnings a session of this policy runs with."""
    if proctoring is None:
        return default
    if proctoring.escalation == "standard":
        rules = list(STANDARD_RULES)
    elif proctoring.escalation == "none":
        rules = []
    else:
        rules = list(default.rules)
    warnings = default.max_warnings if proctoring.maxWarnings is None else proctoring.maxWarnings
    return AlertsConfig(rules=rules, max_warnings=warnings)


def at_max_warnings(proctoring: Proctoring | None) -> AtMaxWarnings:
    if proctoring is None:
        return "nothing"
    if proctoring.atMaxWarnings is not None:
        return proctoring.atMaxWarnings
    return "pause" if proctoring.escalation == "standard" else "nothing"


_ALLOWED: Final = {"pause": ("IN_PROGRESS",), "terminate": ("IN_PROGRESS", "PAUSED")}


def max_warnings_step(
    proctoring: Proctoring | None, alerts: AlertsConfig, record: SessionSnapshot
) -> dict[str, Any] | None:
    """The intervention's data when the warnings have run out, once per session."""
    action = at_max_warnings(proctoring)
    if action == "nothing" or alerts.max_warnings == 0:
        return None
    if record.warningsIssued < alerts.max_warnings or MAX_WARNINGS_RULE in record.firedRules:
        return None
    if record.status not in _ALLOWED[action]:
        return None
    return {
        "action": action,
        "message": f"{record.warningsIssued} warnings: the session is {action}d by its policy.",
        "by": "policy:max_warnings",
        "rule": MAX_WARNINGS_RULE,
        "category": "integrity",
    }
