"""The score ledger: every point taken from the verification score and every part of the risk
score, with the events that caused it and the setting that priced it.

Built by folding the log with the same `fold` the actors use and reading what each event changed
in the counters, never by interpreting events a second time: the ledger therefore sums to the
live scores (tests/test_ledger.py checks it on random logs). Pure, like `fold`.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from actors import scoring
from actors.camera_watch import CAMERA_OFF_ENDED
from actors.config import ScoringConfig
from actors.events import StoredEvent
from actors.identity import IDENTITY_EPISODE_ENDED
from actors.lifecycle import ScoreCache, fold
from actors.scoring import (
    RiskLevel,
    ScoreState,
    Severity,
    TrustLevel,
    Violation,
    reviews_a_tab_switch,
)
from actors.state import SessionSnapshot
from actors.vision_episodes import VISION_EPISODE_ENDED

STARTING_SCORE: Final = 100
# A behaviour check -> its settings' table under [behaviour] (actors/behaviour/config.py).
BEHAVIOUR_TABLES: Final = {
    "BOT_LIKE": "bot_like",
    "TYPING_INCONSISTENCY": "typing",
    "EXACT_TIMING": "exact_timing",
    "UNUSUAL_ANSWER_PATTERNS": "answer_patterns",
    "SOURCE_SIMILARITY": "similarity",
    "COLLABORATION": "collaboration",
    "VPN_PROXY": "vpn_proxy",
}


class Review(msgspec.Struct, frozen=True, kw_only=True):
    decision: str  # "dismiss" or "confirm"
    reason: str
    by: str
    at: str
    offset: int  # of the `violation_reviewed` event


# The events that end an episode a violation was raised for: data {violationOffset, episode}.
_EPISODE_ENDINGS: Final = frozenset(
    {VISION_EPISODE_ENDED, IDENTITY_EPISODE_ENDED, CAMERA_OFF_ENDED}
)


class Episode(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A run of webcam frames that raised one vision violation."""

    start: str
    end: str | None = None
    durationMs: int | None = None
    frames: int | None = None
    confidence: float | None = None
    lowestScore: float | None = None  # identity_mismatch: the lowest match score of the run
    darkMs: int | None = None  # camera_off: how long the camera was dark while connected


class LedgerEntry(msgspec.Struct, kw_only=True):
    """Points taken from the verification score by one violation or one extended risk factor."""

    factor: str  # the riskFactors name it is summed under
    points: int  # negative
    counted: bool = True  # False while a reviewer's dismissal stands
    offsets: list[int]
    ts: str
    rule: str  # how the points were priced, naming the setting
    violationId: str | None = None
    type: str | None = None
    severity: Severity | None = None
    questionId: str | None = None
    episode: Episode | None = None
    reviews: list[Review] = []


class RiskPart(msgspec.Struct, frozen=True, kw_only=True):
    part: str  # the riskBreakdown field
    value: float  # 0-1
    weight: float
    contribution: float  # value x weight, the part's share of the risk score
    rule: str  # the formula with this session's counts in it
    counts: dict[str, int]
    offsets: list[int]  # the events the counts came from


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    verificationScore: int
    trustLevel: TrustLevel
    riskScore: float
    riskLevel: RiskLevel


class ScorePoint(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """[offset, ts, verificationScore, riskScore] after an event that changed a score."""

    offset: int
    ts: str
    verificationScore: int
    riskScore: float


class ScoreLedger(msgspec.Struct, frozen=True, kw_only=True):
    startingScore: int
    verification: list[LedgerEntry]
    # startingScore + the counted points, stopped at 0 (`floored` says the stop was needed).
    verificationScore: int
    floored: bool
    risk: list[RiskPart]
    riskScore: float
    automatic: Verdict  # as the events alone decided, before any review
    reviewed: Verdict  # with the reviewers' decisions: the live scores
    timeline: list[ScorePoint]


_EXTENDED: Final = (
    # (factor, counter, penalty setting)
    ("Device change", "device_changes", "device_change_penalty"),
    ("IP address change", "ip_changes", "ip_change_penalty"),
    ("Long idle periods", "long_idle_periods", "long_idle_penalty"),
    ("Too fast completion", "completed_too_fast", "too_fast_penalty"),
)
# risk part -> the counters that feed it
_RISK_COUNTERS: Final = {
    "tabSwitches": ("tab_switches",),
    "faceAnomalies": ("no_face_frames", "multiple_face_frames"),
    "objectDetections": ("phone_detections", "book_detections", "other_detections"),
    "audioAnomalies": ("audio_anomalous",),
}
# every counter whose rise the ledger reads
_COUNTERS: Final = tuple(
    {counter for _, counter, _ in _EXTENDED}
    | {name for names in _RISK_COUNTERS.values() for name in names}
)


def build_ledger(config: ScoringConfig, session_id: str, events: list[StoredEvent]) -> ScoreLedger:
    builder = LedgerBuilder(config, session_id)
    for event in events:
        builder.add(event)
    return builder.ledger()


class LedgerBuilder:
    """Folds a session's log one event at a time; `add` returns the violations the event raised,
    so a caller building more from the same pass need not fold again."""

    def __init__(self, config: ScoringConfig, session_id: str) -> None:
        self.config = config
        self.session_id = session_id
        self.record = SessionSnapshot()
        self.automatic = ScoreState()  # the same fold without the reviews
        self.entries: list[LedgerEntry] = []
        self.by_violation: dict[str, LedgerEntry] = {}
        self.risk_offsets: dict[str, list[int]] = {part: [] for part in _RISK_COUNTERS}
        self.timeline: list[ScorePoint] = []
        self.cache = ScoreCache()
        self.last_scores: tuple[int, float] = (STARTING_SCORE, 0.0)

    def add(self, event: StoredEvent) -> list[Violation]:
        score = self.record.score
        before = {name: int(getattr(score, name)) for name in _COUNTERS}
        raised = fold(self.config, self.record, event)
        if event.type != scoring.VIOLATION_REVIEWED:
            self.automatic.disabled_checks = score.disabled_checks  # disabled checks: free here too
            scoring.apply(self.config, self.automatic, event)
        for index, violation in enumerate(raised):
            self._add_violation(event, violation, index)
        for factor, counter, setting in _EXTENDED:
            if int(getattr(score, counter)) > before[counter]:
                self._add_factor(event, factor, setting)
        if event.type == scoring.VIOLATION_REVIEWED:
            self._review(event)
        elif event.type in _EPISODE_ENDINGS:
            self._episode_ended(event)
        for part, counters in _RISK_COUNTERS.items():
            if any(int(getattr(score, name)) > before[name] for name in counters):
                self.risk_offsets[part].append(event.offset)
        self._note_scores(event)
        return raised

    def _add_violation(self, event: StoredEvent, violation: Violation, index: int) -> None:
        violation_id = scoring.violation_identity(self.session_id, event.offset, index)
        penalty = scoring.penalty_for(self.config, violation.severity)
        setting = f"penalty_{violation.severity.lower()}"
        if violation.type == scoring.MULTIPLE_VIOLATIONS:
            rule = (
                f"violation number {self.config.multiple_violations_threshold} on one question "
                f"([scoring] multiple_violations_threshold) adds a HIGH violation: -{penalty} "
                f"([scoring] {setting})"
            )
        else:
            rule = f"{violation.severity} violation: -{penalty} ([scoring] {setting})"
        factor, offsets = "Anti-cheat violations", [event.offset]
        if violation.factor is not None:  # a behaviour finding: its own name, points, evidence
            factor, penalty = violation.factor, -(violation.points or 0)
            rule, offsets = behaviour_rule(event, penalty), behaviour_offsets(event)
        if violation.accommodated:  # a disabled check (actors/exam.py): recorded, free
            penalty, rule = 0, accommodated_rule(violation.type)
        entry = LedgerEntry(
            factor=factor,
            points=-penalty,
            offsets=offsets,
            ts=event.ts,
            rule=rule,
            violationId=violation_id,
            type=violation.type,
            severity=violation.severity,
            questionId=violation.questionId,
            episode=_episode(event.data) if index == 0 else None,
            reviews=[],
        )
        self.entries.append(entry)
        self.by_violation[violation_id] = entry

    def _add_factor(self, event: StoredEvent, factor: str, setting: str) -> None:
        penalty = int(getattr(self.config, setting))
        self.entries.append(
            LedgerEntry(
                factor=factor,
                points=-penalty,
                offsets=[event.offset],
                ts=event.ts,
                rule=f"-{penalty} each ([scoring] {setting})",
                reviews=[],
            )
        )

    def _review(self, event: StoredEvent) -> None:
        data = event.data or {}
        entry = self.by_violation.get(str(data.get("violationId")))
        if entry is None:
            return  # the endpoint refuses unknown ids; a hand-made log is not trusted further
        entry.reviews.append(
            Review(
                decision=str(data["decision"]),
                reason=str(data.get("reason", "")),
                by=str(data.get("by", "")),
                at=event.ts,
                offset=event.offset,
            )
        )
        counted = entry.violationId not in self.record.score.dismissed
        if counted != entry.counted and reviews_a_tab_switch(data):
            tabs = self.risk_offsets["tabSwitches"]
            if counted:
                tabs.append(entry.offsets[0])
                tabs.sort()
            else:
                tabs.remove(entry.offsets[0])
        entry.counted = counted

    def _episode_ended(self, event: StoredEvent) -> None:
        """The episode a violation was raised for is over: its end and length are known."""
        data = event.data or {}
        offset = data.get("violationOffset")
        for entry in self.entries:
            if entry.violationId is not None and entry.offsets[0] == offset:
                entry.episode = _episode(data) or entry.episode
                entry.offsets.append(event.offset)

    def _note_scores(self, event: StoredEvent) -> None:
        verification, risk = self.cache.scores(self.config, self.record.score)
        scores = (verification.verificationScore, risk.riskScore)
        if scores != self.last_scores or not self.timeline:
            self.last_scores = scores
            self.timeline.append(
                ScorePoint(
                    offset=event.offset,
                    ts=event.ts,
                    verificationScore=scores[0],
                    riskScore=scores[1],
                )
            )

    def ledger(self) -> ScoreLedger:
        config, score = self.config, self.record.score
        verification, risk = self.cache.scores(config, score)
        total = STARTING_SCORE + sum(entry.points for entry in self.entries if entry.counted)
        automatic_verification = scoring.verification(config, self.automatic)
        automatic_risk = scoring.risk(config, self.automatic)
        return ScoreLedger(
            startingScore=STARTING_SCORE,
            verification=self.entries,
            verificationScore=verification.verificationScore,
            floored=total < 0,
            risk=_risk_parts(config, score, risk, self.risk_offsets),
            riskScore=risk.riskScore,
            automatic=_verdict(automatic_verification, automatic_risk),
            reviewed=_verdict(verification, risk),
            timeline=self.timeline,
        )


def _episode(data: dict[str, Any] | None) -> Episode | None:
    """Vision events carry their episode as data {episode: {start, end, durationMs, frames,
    confidence}}."""
    episode = (data or {}).get("episode")
    if not isinstance(episode, dict):
        return None
    try:
        return msgspec.convert(episode, Episode)
    except msgspec.ValidationError:
        return None


def _verdict(verification: scoring.Verification, risk: scoring.Risk) -> Verdict:
    return Verdict(
        verificationScore=verification.verificationScore,
        trustLevel=verification.trustLevel,
        riskScore=risk.riskScore,
        riskLevel=risk.riskLevel,
    )


def _risk_parts(
    config: ScoringConfig, score: ScoreState, risk: scoring.Risk, offsets: dict[str, list[int]]
) -> list[RiskPart]:
    breakdown = risk.riskBreakdown
    frames = score.frames
    return [
        RiskPart(
            part="tabSwitches",
            value=breakdown.tabSwitches,
            weight=config.weight_tab,
            contribution=_share(breakdown.tabSwitches, config.weight_tab),
            rule=(
                f"min({score.tab_switches} tab switches x {config.tab_switch_step:g}, 1) "
                f"x weight {config.weight_tab:g}"
            ),
            counts={"tabSwitches": score.tab_switches},
            offsets=offsets["tabSwitches"],
        ),
        RiskPart(
            part="faceAnomalies",
            value=breakdown.faceAnomalies,
            weight=config.weight_face,
            contribution=_share(breakdown.faceAnomalies, config.weight_face),
            rule=(
                f"min(({score.no_face_frames} no-face frames x {config.face_no_face_weight:g} + "
                f"{score.multiple_face_frames} multiple-face frames x "
                f"{config.face_multiple_weight:g}) / {frames} frames, 1) "
                f"x weight {config.weight_face:g}"
                if frames
                else "0: no webcam frames were analysed"
            ),
            counts={
                "frames": frames,
                "noFaceFrames": score.no_face_frames,
                "multipleFaceFrames": score.multiple_face_frames,
            },
            offsets=offsets["faceAnomalies"],
        ),
        RiskPart(
            part="objectDetections",
            value=breakdown.objectDetections,
            weight=config.weight_object,
            contribution=_share(breakdown.objectDetections, config.weight_object),
            rule=(
                f"min(({score.phone_detections} phones x {config.object_phone_weight:g} + "
                f"{score.book_detections} books x {config.object_book_weight:g} + "
                f"{score.other_detections} other objects x {config.object_other_weight:g}) / "
                f"{score.object_frames} frames checked for objects, 1) "
                f"x weight {config.weight_object:g}"
                if score.object_frames
                else "0: no webcam frame was checked for objects"
            ),
            counts={
                "frames": score.object_frames,
                "phones": score.phone_detections,
                "books": score.book_detections,
                "otherObjects": score.other_detections,
            },
            offsets=offsets["objectDetections"],
        ),
        RiskPart(
            part="audioAnomalies",
            value=breakdown.audioAnomalies,
            weight=config.weight_audio,
            contribution=_share(breakdown.audioAnomalies, config.weight_audio),
            rule=(
                f"{score.audio_anomalous} anomalous / {score.audio_samples} audio samples "
                f"x weight {config.weight_audio:g}"
                if score.audio_samples
                else "0: no audio samples were analysed"
            ),
            counts={"samples": score.audio_samples, "anomalous": score.audio_anomalous},
            offsets=offsets["audioAnomalies"],
        ),
    ]


def _share(value: float, weight: float) -> float:
    return round(value * weight, 6)


def behaviour_rule(event: StoredEvent, penalty: int) -> str:
    """A behaviour finding's criterion with this session's numbers, and what priced it."""
    data = event.data or {}
    table = BEHAVIOUR_TABLES.get(str(data.get("check")), "behaviour")
    if not data.get("counted"):
        return f"{data.get('rule')}; evidence only, costs nothing ([behaviour.{table}] enabled)"
    return f"{data.get('rule')}: -{penalty} ([behaviour.{table}] penalty)"


def behaviour_offsets(event: StoredEvent) -> list[int]:
    """The events behind a finding, then the finding itself."""
    named = (event.data or {}).get("offsets") or []
    return [*(int(o) for o in named if isinstance(o, int)), event.offset]


def accommodated_rule(kind: str) -> str:
    return (
        f"accommodated: {kind} is a disabled check for this candidate "
        "(accommodations.disabledChecks): recorded, costs nothing"
    )
