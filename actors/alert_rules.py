"""Alert rules and automatic interventions (document 002, "Real-time alerts and interventions").

A rule fires once per session, when the count of the violations it names reaches its `count`,
or when the risk level reaches its `riskLevel`. What it does is stored as an event like any
other: an `intervention` (warn, pause, terminate) made `by` "rule:<name>", or an `alert_raised`;
`lifecycle.fold` marks the rule fired from that event, so replays and restarts agree on what
has fired. Pure: the session actor asks `due` after each stored event.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from actors.scoring import RiskLevel, ScoreState, Severity

RuleName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
RuleAction = Literal["alert", "warn", "pause", "terminate"]
AlertSeverity = Literal["low", "medium", "high", "critical"]
ALERT_RAISED: Final = "alert_raised"  # data {rule, category, severity, message}
_RISK_ORDER: Final = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class AlertRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: RuleName
    action: RuleAction
    # Why, for people reading the alert or the report: "behaviour", "identity", "environment"...
    category: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] = "integrity"
    severity: Severity | None = None  # count the violations of this severity ...
    violation: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # ... or of this type
    count: Annotated[int, msgspec.Meta(ge=1)] = 1
    riskLevel: RiskLevel | None = None  # or fire when the risk reaches this level
    alertSeverity: AlertSeverity = "high"
    message: Annotated[str, msgspec.Meta(max_length=500)] = ""

    def __post_init__(self) -> None:
        if self.riskLevel is not None and (self.severity or self.violation or self.count != 1):
            raise ValueError(
                f"rule {self.name!r}: riskLevel cannot be combined with severity, violation or "
                "count; make two rules"
            )

    def matched(self, score: ScoreState) -> bool:
        """Whether the session's counters meet this rule's condition."""
        if self.riskLevel is not None:
            return False  # decided on the risk level, by `due`
        if self.violation is not None:
            found = score.by_type.get(self.violation, 0)
        elif self.severity is not None:
            found = score.by_severity.get(self.severity, 0)
        else:
            found = score.violations
        return found >= self.count


class AlertsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # None by default: automatic interventions change what a candidate sees, so an institution
    # opts in (config.toml has examples).
    rules: list[AlertRule] = []
    # A warned candidate is told how many warnings are left before this many.
    max_warnings: Annotated[int, msgspec.Meta(ge=0)] = 3

    def __post_init__(self) -> None:
        names = [rule.name for rule in self.rules]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"alert rule name {name!r} is used twice; names must be unique")


def due(
    config: AlertsConfig, score: ScoreState, risk_level: RiskLevel, fired: list[str]
) -> list[AlertRule]:
    """The rules whose condition holds now and that have not fired for this session yet."""
    reached = _RISK_ORDER[risk_level]
    found = []
    for rule in config.rules:
        if rule.name in fired:
            continue
        if rule.riskLevel is not None:
            if reached >= _RISK_ORDER[rule.riskLevel]:
                found.append(rule)
        elif rule.matched(score):
            found.append(rule)
    return found


def rule_of(data: dict[str, object] | None) -> str | None:
    """The rule an `intervention` or `alert_raised` event was made by, if any."""
    if not data:
        return None
    rule = data.get("rule")
    return rule if isinstance(rule, str) else None
