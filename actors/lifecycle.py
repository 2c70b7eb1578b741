"""How one stored event changes a session's record: status, counters and scores.

`fold` is the only place that interprets a stored event, and it is pure: the live actor, the
recovery replay and the property tests all run the same code over the same events.
"""

from __future__ import annotations

from typing import Final

from actors import audio_episodes, exam, identity, scoring, vision_episodes
from actors.alert_rules import ALERT_RAISED, rule_of
from actors.config import ScoringConfig
from actors.events import (
    INTERVENTION,
    USER_DISCONNECTED,
    USER_RECONNECTED,
    VISION_UNAVAILABLE,
    StoredEvent,
)
from actors.state import FINISHED, SessionInfo, SessionSnapshot, SessionState

SESSION_UPDATED: Final = (
    "session_updated"  # PUT /candidate-sessions/:id: data {currentQuestionIndex}
)
_ACTION_STATUS: Final = {"pause": "PAUSED", "resume": "IN_PROGRESS", "terminate": "TERMINATED"}


def fold(
    config: ScoringConfig, record: SessionSnapshot, event: StoredEvent
) -> list[scoring.Violation]:
    """Apply `event` (the next offset) to `record` in place; return the violations it raised."""
    if event.offset != record.offset + 1:
        raise ValueError(
            f"event offset {event.offset} does not follow the record's offset {record.offset}"
        )
    record.offset = event.offset
    record.lastEventAt = event.ts
    record.lastEventType = event.type
    if event.seq is not None:
        record.lastSeq = event.seq
    if event.type == "assessment_submitted" and not record.submitted:
        record.submitted = True
        if record.status not in FINISHED:
            record.status = "COMPLETED"
            record.endTime = event.ts
    elif event.type == INTERVENTION:
        _apply_intervention(record, event)
    elif event.type == USER_DISCONNECTED:
        record.offline = True
    elif event.type == USER_RECONNECTED:
        record.offline = False
    elif event.type == VISION_UNAVAILABLE:
        record.manualReviewRequired = True
    if event.origin == "vision":
        vision_episodes.observe(record.vision, event)
    if event.type in identity.OBSERVED:
        identity.observe(record.identity, event)
    if event.type in (INTERVENTION, ALERT_RAISED):
        rule = rule_of(event.data)
        if rule is not None and rule not in record.firedRules:
            record.firedRules.append(rule)
    elif event.type == SESSION_UPDATED and event.data is not None:
        record.currentQuestionIndex = event.data.get("currentQuestionIndex")
    # Exam control (actors/exam.py): accommodations, the time limit, the acknowledged pause.
    exam.observe(record.exam, record.score, event)
    if event.type == exam.PAUSE_ACKNOWLEDGED and record.status == "PAUSED":
        record.status = "IN_PROGRESS"
    if (record.status == "PAUSED") != (record.exam.pausedSince is not None):
        exam.paused(record.exam, record.status == "PAUSED", exam.resumed_at(event))
    if event.origin == "audio":
        audio_episodes.observe(record.audio, event)
    return scoring.apply(config, record.score, event)


def _apply_intervention(record: SessionSnapshot, event: StoredEvent) -> None:
    action = (event.data or {}).get("action")
    if action == "warn":
        record.warningsIssued += 1
        return
    status = _ACTION_STATUS.get(str(action))
    if status is None or record.status in FINISHED:
        return
    record.status = status  # type: ignore[assignment]
    if status == "TERMINATED":
        record.endTime = event.ts


class ScoreCache:
    """Verification and risk of one session, recomputed only when a scoring counter changed
    (most events, heartbeats and answers, change none)."""

    __slots__ = ("_key", "risk", "verification")

    def __init__(self) -> None:
        self._key: tuple[int, ...] | None = None
        self.verification: scoring.Verification | None = None
        self.risk: scoring.Risk | None = None

    def scores(
        self, config: ScoringConfig, score: scoring.ScoreState
    ) -> tuple[scoring.Verification, scoring.Risk]:
        key = (
            score.penalty, score.violations, score.tab_switches, score.frames, score.object_frames,
            score.no_face_frames,
            score.multiple_face_frames, score.phone_detections, score.book_detections,
            score.other_detections, score.audio_samples, score.audio_anomalous,
            score.device_changes, score.ip_changes, score.long_idle_periods,
            score.completed_too_fast, score.behaviour_points,
        )  # fmt: skip
        if key != self._key or self.verification is None or self.risk is None:
            self._key = key
            self.verification = scoring.verification(config, score)
            self.risk = scoring.risk(config, score)
        return self.verification, self.risk


def summarize(
    config: ScoringConfig,
    info: SessionInfo,
    record: SessionSnapshot,
    connected: bool,
    cache: ScoreCache | None = None,
) -> SessionState:
    verification, risk = (cache or ScoreCache()).scores(config, record.score)
    return SessionState(
        sessionId=info.sessionId,
        assessmentId=info.assessmentId,
        candidateName=info.candidateName,
        status=record.status,
        connected=connected,
        verificationScore=verification.verificationScore,
        trustLevel=verification.trustLevel,
        riskScore=risk.riskScore,
        riskLevel=risk.riskLevel,
        violationCount=record.score.violations,
        lastEventAt=record.lastEventAt,
        lastOffset=record.offset,
        lastSeq=record.lastSeq,
        currentQuestionId=record.score.current_question,
        warningsIssued=record.warningsIssued,
        startTime=info.startTime,
        endTime=record.endTime,
        currentQuestionIndex=record.currentQuestionIndex,
        manualReviewRequired=record.manualReviewRequired,
        lastEventType=record.lastEventType,
        identity=record.identity.summary(),
    )
