"""Scoring, pure and incremental: `apply(config, state, event)` folds one stored event into the
state in O(1) and returns the violations it raised. No awaits, no clock, no I/O, so the result of
folding a whole log can be checked against a recomputation (tests/test_scoring_properties.py).

Verification (trust) score: document 001. Risk score: document 002. Both as CONTRACT.md section 6.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from actors.config import ScoringConfig
from actors.events import (
    FACE_NOT_DETECTED,
    MULTIPLE_FACES_DETECTED,
    OBJECT_DETECTED,
    StoredEvent,
)

Severity = Literal["LOW", "MEDIUM", "HIGH"]
TrustLevel = Literal["HIGH", "MEDIUM", "LOW"]
RiskLevel = Literal["low", "medium", "high", "critical"]

# Server-made types this module understands beyond CONTRACT.md's list.
VIOLATION_REPORTED: Final = "violation_reported"  # REST POST .../violations: data {type, severity}
# vision, one per analysed frame: data {faces, objects: [label, ...], usable, ...}; faces is null
# on a frame too poor to judge, objects null when the object detector did not run on it.
FRAME_ANALYZED: Final = "frame_analyzed"
AUDIO_ANALYZED: Final = "audio_analyzed"  # data {anomalous: bool}
IP_CHANGED: Final = "ip_changed"  # a candidate connected from another address: data {from, to}
# A reviewer's verdict on one violation: data {violationId, decision, reason, by, type, severity,
# event}, where type and severity are the violation's and event the type of the event that raised
# it. A dismissed violation stops counting; a confirmed one counts (again).
VIOLATION_REVIEWED: Final = "violation_reviewed"
# Issue 28: one behaviour factor's evidence (actors/behaviour_watch.py), data = its Finding
# {factor, check, points, counted, rule, offsets, ...}. A violation of type `check` that costs
# its own `points` under its own riskFactors name, and nothing while `counted` is false.
BEHAVIOUR_FLAGGED: Final = "behaviour_flagged"
MULTIPLE_VIOLATIONS: Final = "MULTIPLE_VIOLATIONS"

# Event type -> (violation type, severity); focus_lost is decided by its duration.
_FIXED_VIOLATIONS: Final[dict[str, tuple[str, Severity]]] = {
    "tab_switch_detected": ("TAB_SWITCH", "MEDIUM"),
    "copy_attempt": ("COPY_PASTE", "MEDIUM"),
    "paste_attempt": ("COPY_PASTE", "MEDIUM"),
    "fullscreen_exit": ("FULLSCREEN_EXIT", "MEDIUM"),
    "inspect_element_opened": ("DEVTOOLS_OPENED", "HIGH"),
    "right_click_attempt": ("RIGHT_CLICK", "LOW"),
    "multiple_tabs_detected": ("MULTIPLE_TABS", "MEDIUM"),
    "idle_detected": ("EXCESSIVE_IDLE", "LOW"),
    "screen_recording_stopped": ("RECORDING_FAILURE", "HIGH"),
    FACE_NOT_DETECTED: ("FACE_NOT_DETECTED", "HIGH"),
    MULTIPLE_FACES_DETECTED: ("MULTIPLE_FACES", "HIGH"),
    "identity_mismatch": ("IDENTITY_MISMATCH", "HIGH"),  # actors/identity.py, once per episode
    "camera_off": ("CAMERA_OFF", "HIGH"),  # actors/camera_watch.py, once per episode
}
# Issue 24 (CONTRACT.md 9.2): raised once per episode by actors/audio_episodes.py.
_FIXED_VIOLATIONS["audio_anomaly"] = ("AUDIO_ANOMALY", "MEDIUM")
_FIXED_VIOLATIONS["multiple_monitors_detected"] = ("MULTIPLE_MONITORS", "MEDIUM")
_PHONE_LABELS: Final = frozenset({"cell phone", "phone", "mobile phone"})
_BOOK_LABELS: Final = frozenset({"book", "notebook"})


class Violation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    type: str
    severity: Severity
    offset: int
    questionId: str | None = None
    accommodated: bool = False  # a disabled check (actors/exam.py): recorded, costs nothing
    # A behaviour finding: what it costs (negative, 0 while its factor is off) and the
    # riskFactors name it is summed under.
    points: int | None = None
    factor: str | None = None


def violation_identity(session_id: str, offset: int, index: int) -> str:
    """A violation's id: the `index`th violation the event at `offset` raised."""
    return f"{session_id}:{offset}:{index}"


class ScoreState(msgspec.Struct, kw_only=True):
    """Counters from which both scores follow in O(1). Owned by one session actor."""

    penalty: int = 0
    violations: int = 0
    by_severity: dict[str, int] = msgspec.field(default_factory=dict)
    by_type: dict[str, int] = msgspec.field(default_factory=dict)
    per_question: dict[str, int] = msgspec.field(default_factory=dict)
    current_question: str | None = None
    tab_switches: int = 0
    frames: int = 0  # frames whose faces were judged: the face part's total
    object_frames: int = 0  # frames the object detector ran on: the object part's total
    unusable_frames: int = 0  # too dark, bright, blurred or uniform: judged for nothing
    no_face_frames: int = 0
    multiple_face_frames: int = 0
    phone_detections: int = 0
    book_detections: int = 0
    other_detections: int = 0
    audio_samples: int = 0
    audio_anomalous: int = 0
    # Document 001's extended risk factors.
    started_at: str | None = None
    device_fingerprint: str | None = None
    device_agent: str | None = None
    device_changes: int = 0
    ip_address: str | None = None
    ip_changes: int = 0
    long_idle_periods: int = 0
    submitted: bool = False
    completed_too_fast: bool = False
    # Ids of the violations a reviewer dismissed (few: each one is a person's decision).
    dismissed: list[str] = msgspec.field(default_factory=list)
    # Violation types the session's accommodations switched off (actors/exam.py).
    disabled_checks: list[str] = msgspec.field(default_factory=list)
    # Issue 28: behaviour findings that cost points, per riskFactors name: [count, points].
    behaviour: dict[str, list[int]] = msgspec.field(default_factory=dict)
    behaviour_points: int = 0


class RiskFactor(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    factor: str
    impact: int
    count: int


class Verification(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    verificationScore: int
    riskFactors: list[RiskFactor]
    trustLevel: TrustLevel


class RiskBreakdown(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    tabSwitches: float
    faceAnomalies: float
    objectDetections: float
    audioAnomalies: float


class Risk(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    riskScore: float
    riskLevel: RiskLevel
    riskBreakdown: RiskBreakdown


def apply(config: ScoringConfig, state: ScoreState, event: StoredEvent) -> list[Violation]:
    """Fold `event` into `state`; return the violations it raised (usually none)."""
    kind = event.type
    if kind in ("question_viewed", "answer_submitted") and event.questionId is not None:
        state.current_question = event.questionId
    elif kind == FRAME_ANALYZED:
        _count_frame(state, event)
    elif kind == OBJECT_DETECTED:
        pass  # the frame's objects are counted by frame_analyzed; this is the episode marker
    elif kind == AUDIO_ANALYZED:
        state.audio_samples += 1
        state.audio_anomalous += bool((event.data or {}).get("anomalous"))
    elif kind == VIOLATION_REVIEWED:
        _review(config, state, event.data or {})
    if kind == "tab_switch_detected":
        state.tab_switches += 1
    _extended_factors(config, state, event)
    if kind == BEHAVIOUR_FLAGGED:
        return [_behaviour_flagged(state, event)]
    classified = _classify(config, event)
    if classified is None:
        return []
    return _record_violation(config, state, event, *classified)


# Every event type that may raise a violation by itself (MULTIPLE_VIOLATIONS comes on top).
VIOLATING_TYPES: Final = frozenset({*_FIXED_VIOLATIONS, "focus_lost", VIOLATION_REPORTED})


def violation_of(config: ScoringConfig, event: StoredEvent) -> Violation | None:
    """The violation `event` raises by itself, whatever came before (MULTIPLE_VIOLATIONS, which
    depends on the count so far, is not one)."""
    classified = _classify(config, event)
    if classified is None:
        return None
    kind, severity = classified
    return Violation(type=kind, severity=severity, offset=event.offset, questionId=event.questionId)


def _classify(config: ScoringConfig, event: StoredEvent) -> tuple[str, Severity] | None:
    kind = event.type
    fixed = _FIXED_VIOLATIONS.get(kind)
    if fixed is not None:
        return fixed
    data = event.data or {}
    if kind == "focus_lost":
        duration = data.get("durationMs", 0)
        return ("FOCUS_LOSS", "MEDIUM" if duration >= config.focus_loss_medium_ms else "LOW")
    if kind == VIOLATION_REPORTED:
        return (str(data["type"]), data["severity"])
    return None


def _record_violation(
    config: ScoringConfig, state: ScoreState, event: StoredEvent, kind: str, severity: Severity
) -> list[Violation]:
    question = event.questionId or state.current_question
    if kind in state.disabled_checks:
        return [Violation(type=kind, severity=severity, offset=event.offset, questionId=question,
                          accommodated=True)]  # fmt: skip
    raised = [Violation(type=kind, severity=severity, offset=event.offset, questionId=question)]
    _count_violation(config, state, kind, severity)
    if question is not None:
        on_question = state.per_question.get(question, 0) + 1
        state.per_question[question] = on_question
        if on_question == config.multiple_violations_threshold:
            raised.append(
                Violation(
                    type=MULTIPLE_VIOLATIONS,
                    severity="HIGH",
                    offset=event.offset,
                    questionId=question,
                )
            )
            _count_violation(config, state, MULTIPLE_VIOLATIONS, "HIGH")
    return raised


def _count_violation(
    config: ScoringConfig, state: ScoreState, kind: str, severity: Severity, sign: int = 1
) -> None:
    state.violations += sign
    state.by_severity[severity] = state.by_severity.get(severity, 0) + sign
    state.by_type[kind] = state.by_type.get(kind, 0) + sign
    state.penalty += sign * penalty_for(config, severity)


def _behaviour_flagged(state: ScoreState, event: StoredEvent) -> Violation:
    data = event.data or {}
    check, factor = str(data.get("check")), str(data.get("factor"))
    penalty = abs(int(data.get("points", 0))) if data.get("counted") else 0
    accommodated = check in state.disabled_checks
    if accommodated:
        penalty = 0
    _count_behaviour(state, factor, penalty)
    return Violation(
        type=check,
        severity=_behaviour_severity(penalty),
        offset=event.offset,
        accommodated=accommodated,
        points=-penalty,
        factor=factor,
    )


def _count_behaviour(state: ScoreState, factor: str, penalty: int, sign: int = 1) -> None:
    if not penalty:
        return
    count, points = state.behaviour.get(factor, [0, 0])
    state.behaviour[factor] = [count + sign, points + sign * penalty]
    if state.behaviour[factor][0] <= 0:
        del state.behaviour[factor]
    state.behaviour_points += sign * penalty


def _behaviour_severity(penalty: int) -> Severity:
    # Only for readers that sort by severity; the points are the finding's own.
    return "HIGH" if penalty >= 20 else "MEDIUM" if penalty >= 10 else "LOW"


def _review(config: ScoringConfig, state: ScoreState, data: dict[str, Any]) -> None:
    """Take a dismissed violation out of the counts, or put a confirmed one back; deciding what
    is already decided changes nothing. Only the violation itself: a MULTIPLE_VIOLATIONS it
    helped raise is a violation of its own, reviewed on its own."""
    violation_id = str(data["violationId"])
    dismissed = violation_id in state.dismissed
    if data["decision"] == "dismiss" and not dismissed:
        state.dismissed.append(violation_id)
        sign = -1
    elif data["decision"] == "confirm" and dismissed:
        state.dismissed.remove(violation_id)
        sign = 1
    else:
        return
    if data.get("event") == BEHAVIOUR_FLAGGED:
        _count_behaviour(state, str(data.get("factor")), abs(int(data.get("points", 0))), sign)
        return
    _count_violation(config, state, str(data["type"]), data["severity"], sign)
    if reviews_a_tab_switch(data):
        state.tab_switches += sign  # the risk score's tab part counts the same switch


def reviews_a_tab_switch(review: dict[str, Any]) -> bool:
    """Whether a `violation_reviewed` is about a tab switch's own violation, which the risk
    score's tab part also counts (not a MULTIPLE_VIOLATIONS the same event raised)."""
    return review.get("event") == "tab_switch_detected" and review.get("type") == "TAB_SWITCH"


def penalty_for(config: ScoringConfig, severity: Severity) -> int:
    if severity == "HIGH":
        return config.penalty_high
    if severity == "MEDIUM":
        return config.penalty_medium
    return config.penalty_low


def _count_frame(state: ScoreState, event: StoredEvent) -> None:
    """Document 002's frame counts. A frame counts towards a part only if that part's detector
    judged it: an unusable frame is no evidence of a missing face, and objects are looked for on
    some frames only."""
    data = event.data or {}
    if data.get("usable") is False:
        state.unusable_frames += 1
        return
    faces = data.get("faces", 1)
    if isinstance(faces, int):
        state.frames += 1
        state.no_face_frames += faces == 0
        state.multiple_face_frames += faces > 1
    objects = data.get("objects")
    if not isinstance(objects, list):
        return
    state.object_frames += 1
    for label in objects:
        if label in _PHONE_LABELS:
            state.phone_detections += 1
        elif label in _BOOK_LABELS:
            state.book_detections += 1
        elif label != "person":
            state.other_detections += 1


def _extended_factors(config: ScoringConfig, state: ScoreState, event: StoredEvent) -> None:
    """Device change, IP change, long idle periods and too fast completion (document 001)."""
    kind = event.type
    data = event.data or {}
    if state.started_at is None:  # the candidate's first event, normally assessment_started
        state.started_at = event.ts
    if kind == "device_info":
        _note_device(state, data)
        _note_ip(state, data.get("ipAddress"))
    elif kind == IP_CHANGED:
        _note_ip(state, data.get("to"))
    elif kind == "idle_detected" and data.get("seconds", 0) >= config.long_idle_seconds:
        state.long_idle_periods += 1
    elif kind == "assessment_submitted" and not state.submitted:
        state.submitted = True  # only the first submission is timed
        elapsed = _seconds_between(state.started_at, event.ts)
        # A negative time is two clocks disagreeing (the candidate's and the server's), not speed.
        state.completed_too_fast = (
            config.too_fast_completion_seconds > 0
            and elapsed is not None
            and 0 <= elapsed < config.too_fast_completion_seconds
        )


def _note_device(state: ScoreState, data: dict[str, Any]) -> None:
    """A report of another device than the previous report is a change. The fingerprint decides
    when the report has one; without one, user agent and platform do."""
    fingerprint = data.get("deviceFingerprint") or None
    agent = None
    if data.get("userAgent") or data.get("platform"):
        agent = f"{data.get('userAgent')}|{data.get('platform')}"
    if fingerprint is not None:
        previous, state.device_fingerprint = state.device_fingerprint, str(fingerprint)
        changed = previous is not None and previous != fingerprint
    else:
        changed = agent is not None and state.device_agent not in (None, agent)
    if agent is not None:
        state.device_agent = agent
    state.device_changes += changed


def _note_ip(state: ScoreState, address: object) -> None:
    if not isinstance(address, str) or not address:
        return
    if state.ip_address is not None and state.ip_address != address:
        state.ip_changes += 1
    state.ip_address = address


def _seconds_between(start: str | None, end: str) -> float | None:
    if start is None:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def verification(config: ScoringConfig, state: ScoreState) -> Verification:
    factors = []
    if state.violations:
        factors.append(
            RiskFactor(
                factor="Anti-cheat violations", impact=-state.penalty, count=state.violations
            )
        )
    for factor, count, penalty in (
        ("Device change", state.device_changes, config.device_change_penalty),
        ("IP address change", state.ip_changes, config.ip_change_penalty),
        ("Long idle periods", state.long_idle_periods, config.long_idle_penalty),
        ("Too fast completion", int(state.completed_too_fast), config.too_fast_penalty),
    ):
        if count:
            factors.append(RiskFactor(factor=factor, impact=-count * penalty, count=count))
    for factor, (count, points) in state.behaviour.items():
        factors.append(RiskFactor(factor=factor, impact=-points, count=count))
    score = max(0, 100 + sum(factor.impact for factor in factors))
    return Verification(
        verificationScore=score, riskFactors=factors, trustLevel=trust_level(config, score)
    )


def trust_level(config: ScoringConfig, score: int) -> TrustLevel:
    if score >= config.trust_high_min:
        return "HIGH"
    if score >= config.trust_medium_min:
        return "MEDIUM"
    return "LOW"


def risk(config: ScoringConfig, state: ScoreState) -> Risk:
    tab = min(state.tab_switches * config.tab_switch_step, 1.0)
    face = object_ = audio = 0.0
    if state.frames:
        face = min(
            (
                state.no_face_frames * config.face_no_face_weight
                + state.multiple_face_frames * config.face_multiple_weight
            )
            / state.frames,
            1.0,
        )
    if state.object_frames:
        object_ = min(
            (
                state.phone_detections * config.object_phone_weight
                + state.book_detections * config.object_book_weight
                + state.other_detections * config.object_other_weight
            )
            / state.object_frames,
            1.0,
        )
    if state.audio_samples:
        audio = state.audio_anomalous / state.audio_samples
    score = _round(
        tab * config.weight_tab
        + face * config.weight_face
        + object_ * config.weight_object
        + audio * config.weight_audio
    )
    return Risk(
        riskScore=score,
        riskLevel=risk_level(config, score),
        riskBreakdown=RiskBreakdown(
            tabSwitches=_round(tab),
            faceAnomalies=_round(face),
            objectDetections=_round(object_),
            audioAnomalies=_round(audio),
        ),
    )


def risk_level(config: ScoringConfig, score: float) -> RiskLevel:
    if score >= config.risk_critical_min:
        return "critical"
    if score >= config.risk_high_min:
        return "high"
    if score >= config.risk_medium_min:
        return "medium"
    return "low"


def _round(value: float) -> float:
    # Six places keep 3 * 0.1 from landing just above or below a level threshold.
    return round(value, 6)
