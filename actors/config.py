"""Settings the domain needs, as frozen Structs; `app.settings` loads them from config.toml."""

from __future__ import annotations

from typing import Annotated

import msgspec

Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


class ScoringConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    penalty_high: NonNegative = 15
    penalty_medium: NonNegative = 8
    penalty_low: NonNegative = 3
    trust_high_min: Annotated[int, msgspec.Meta(ge=0, le=100)] = 80
    trust_medium_min: Annotated[int, msgspec.Meta(ge=0, le=100)] = 60
    focus_loss_medium_ms: NonNegative = 5000
    multiple_violations_threshold: Positive = 3
    weight_tab: Fraction = 0.30
    weight_face: Fraction = 0.35
    weight_object: Fraction = 0.25
    weight_audio: Fraction = 0.10
    tab_switch_step: Fraction = 0.1
    face_no_face_weight: Fraction = 0.4
    face_multiple_weight: Fraction = 0.6
    object_phone_weight: Fraction = 0.5
    object_book_weight: Fraction = 0.3
    object_other_weight: Fraction = 0.2
    risk_medium_min: Fraction = 0.3
    risk_high_min: Fraction = 0.6
    risk_critical_min: Fraction = 0.8
    # Document 001's extended risk factors, taken from the verification score per occurrence.
    device_change_penalty: NonNegative = 20
    ip_change_penalty: NonNegative = 15
    long_idle_penalty: NonNegative = 5
    long_idle_seconds: Seconds = 600.0
    too_fast_penalty: NonNegative = 10
    too_fast_completion_seconds: Annotated[float, msgspec.Meta(ge=0)] = 0.0

    def __post_init__(self) -> None:
        if not self.trust_medium_min <= self.trust_high_min:
            raise ValueError("trust_medium_min must not exceed trust_high_min")
        if not self.risk_medium_min <= self.risk_high_min <= self.risk_critical_min:
            raise ValueError(
                "risk thresholds must rise: risk_medium_min <= risk_high_min <= risk_critical_min"
            )


class SessionsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    mailbox_size: Positive = 64
    idle_evict_seconds: Seconds = 600.0
    finished_evict_seconds: Seconds = 30.0
    max_restarts: NonNegative = 3
    restart_window_seconds: Seconds = 60.0
    sweep_interval_seconds: Seconds = 5.0
    snapshot_every_events: Positive = 200
