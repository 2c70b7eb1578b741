"""`[webhooks]`: where Vigil tells an LMS or an HR system what happened (app/webhooks/).

Endpoints are a TOML array of tables, each with its secret named, never written, here:

    [[webhooks.endpoints]]
    name = "lms"
    url = "https://lms.example.org/vigil-hook"
    secret_env = "VIGIL_WEBHOOK_LMS_SECRET"
    events = ["session.completed", "session.reviewed", "alert.raised", "intervention"]
    min_alert_severity = "high"
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

WebhookKind = Literal["session.completed", "session.reviewed", "alert.raised", "intervention"]
WEBHOOK_KINDS: Final[tuple[WebhookKind, ...]] = (
    "session.completed",
    "session.reviewed",
    "alert.raised",
    "intervention",
)
AlertSeverity = Literal["low", "medium", "high", "critical"]
SEVERITY_RANK: Final = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class WebhookEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Names the endpoint in the delivery log and its cursor: changing it starts from the end.
    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=2000)]
    # The environment variable that holds the HMAC secret (at least 16 bytes).
    secret_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    events: tuple[WebhookKind, ...] = WEBHOOK_KINDS
    min_alert_severity: AlertSeverity = "high"


class WebhooksSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    endpoints: tuple[WebhookEndpoint, ...] = ()
    # Deliver to private, loopback and link-local addresses too (an LMS on the same network).
    allow_private: bool = False
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0
    # A failed delivery is tried again after retry_base_seconds, twice that, four times ... at
    # most retry_max_seconds apart; it is never dropped (at least once, in order).
    retry_base_seconds: Annotated[float, msgspec.Meta(ge=0.01, le=3600)] = 1.0
    retry_max_seconds: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 300.0
    # How often an endpoint that is up to date looks for new events.
    poll_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    # Delivery log rows kept per endpoint (the newest).
    log_rows: Annotated[int, msgspec.Meta(ge=10, le=10_000_000)] = 10_000

    def __post_init__(self) -> None:
        names = [endpoint.name for endpoint in self.endpoints]
        if len(names) != len(set(names)):
            raise ValueError(f"webhooks.endpoints names must differ; got {names}")
