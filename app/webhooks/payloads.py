"""Which webhooks one stored event makes, and what each says. Pure: the same event always makes
the same payloads with the same ids, so a redelivery after a crash is recognisably the same."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from actors.alert_rules import ALERT_RAISED
from actors.alerts import alerts_for
from actors.config import ScoringConfig
from actors.events import (
    CAMERA_UNUSABLE,
    INTERVENTION,
    LOOKING_AWAY,
    OBJECT_DETECTED,
    VISION_UNAVAILABLE,
)
from actors.scoring import VIOLATING_TYPES, violation_of
from actors.session_review import SESSION_REVIEWED
from app.settings.webhooks import SEVERITY_RANK, WebhookEndpoint, WebhookKind
from app.storage.store import LoggedEvent

SUBMITTED: Final = "assessment_submitted"
# The stored event types any webhook can come from: the journal is read for these only.
SOURCE_TYPES: Final = frozenset(
    {
        SUBMITTED,
        SESSION_REVIEWED,
        INTERVENTION,
        ALERT_RAISED,
        LOOKING_AWAY,
        OBJECT_DETECTED,
        CAMERA_UNUSABLE,
        VISION_UNAVAILABLE,
        *VIOLATING_TYPES,
    }
)


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON body of one delivery. `id` is stable: receivers dedupe by it."""

    id: str
    type: WebhookKind
    sessionId: str
    assessmentId: str
    offset: int  # the stored event it comes from
    eventType: str
    ts: str
    data: dict[str, Any]


def webhooks_for(
    config: ScoringConfig, endpoint: WebhookEndpoint, logged: LoggedEvent, first_submit: bool
) -> list[Webhook]:
    """`first_submit`: this `assessment_submitted` is the session's first (later ones, refused
    by the server's REST submit, can still come from a candidate's socket)."""
    event = logged.event
    data = event.data or {}
    found: list[tuple[WebhookKind, str, dict[str, Any]]] = []
    if event.type == SUBMITTED and first_submit:
        reason = data.get("reason", "submitted")
        found.append(("session.completed", "", {"endTime": event.ts, "reason": reason}))
    elif event.type == SESSION_REVIEWED:
        found.append(("session.reviewed", "", dict(data)))
    if event.type == INTERVENTION:
        kept = {key: data.get(key) for key in ("action", "message", "by")}
        found.append(("intervention", "", kept))
    violation = violation_of(config, event)
    violations = [] if violation is None else [violation]
    alerts = alerts_for(logged.session_id, logged.assessment_id, event, violations)
    lowest = SEVERITY_RANK[endpoint.min_alert_severity]
    for index, alert in enumerate(alerts):
        if SEVERITY_RANK.get(alert.severity, 0) >= lowest:
            found.append(
                (
                    "alert.raised",
                    f":{index}",
                    {"severity": alert.severity, "message": alert.message},
                )
            )
    return [
        Webhook(
            id=f"{logged.session_id}:{event.offset}:{kind}{suffix}",
            type=kind,
            sessionId=logged.session_id,
            assessmentId=logged.assessment_id,
            offset=event.offset,
            eventType=event.type,
            ts=event.ts,
            data=body,
        )
        for kind, suffix, body in found
        if kind in endpoint.events
    ]
