"""Document 002's post-test `ProctorAnalysisReport`, built from a session's log, records and
scores, plus what makes the verdict explainable: the score ledger (every point and the events
behind it), the automatic and the reviewed verdict, every alert and intervention, and how
complete the record is. Every figure in it is one the API shows elsewhere; the recommendations
say which figure led to them."""

from __future__ import annotations

from typing import Final

import msgspec

from actors.alerts import alerts_for
from actors.behaviour_report import BehaviourEvidence, behaviour_evidence
from actors.completeness import RecordCompleteness, measure
from actors.compliance import compliance_score
from actors.config import ScoringConfig
from actors.events import INTERVENTION, StoredEvent
from actors.grading import ScoreSummary
from actors.identity_report import NOT_CHECKED, IdentityReport, identity_report
from actors.ledger import LedgerBuilder, ScoreLedger
from actors.record_types import CandidateAnswer, SessionRecords
from actors.scoring import Risk, RiskBreakdown, RiskFactor, RiskLevel, TrustLevel, Verification
from actors.session_review import Recommendation, SessionReview, review_record
from actors.state import SessionSnapshot, SessionState, Status

_TRUST_ADVICE: Final = {
    "HIGH": "Accept the results with confidence: minimal or no violations (trust HIGH).",
    "MEDIUM": "Review recommended: some integrity concerns (trust MEDIUM).",
    "LOW": "Flag for investigation: significant integrity concerns (trust LOW).",
}


class AudioFinding(msgspec.Struct, frozen=True, kw_only=True):
    """One `audio_anomaly`: when it was raised, the sound's start and length, and its clip."""

    offset: int
    ts: str
    start: str
    durationMs: int
    peakDbfs: float
    clip: str | None  # the path of its WAV (a signed link in the report), if one was kept


class ScreenFinding(msgspec.Struct, frozen=True, kw_only=True):
    """The screen recording: its times on the server's clock and where to play it (signed links
    in the report). A violation's `timestamp` minus `recordingStartTime` is where to seek."""

    recordingStartTime: str | None
    recordingEndTime: str | None
    fileSize: int | None
    uploadStatus: str | None
    video: str
    thumbnail: str | None = None


def frame_path(session_id: str, offset: int) -> str:
    """Where a kept webcam frame is served (admin token)."""
    return f"/candidate-sessions/{session_id}/frames/{offset}.jpg"


class DetailedFindings(msgspec.Struct, frozen=True, kw_only=True):
    suspiciousTimestamps: list[str]
    # The kept webcam frames that raised or ended a vision episode, as paths to fetch them.
    flaggedFrames: list[str]
    recommendations: list[str]
    # The offsets of the events behind `flaggedFrames`, in the same order (the links are signed,
    # so a caption cannot be read back from them).
    flaggedFrameEvents: list[int] = msgspec.field(default_factory=list)
    # Issue 24: each audio episode with its clip (actors/audio_episodes.py `findings`).
    audioEpisodes: list[AudioFinding] = msgspec.field(default_factory=list)
    # Issue 24: the screen recording the server holds, with links to play it.
    screenRecording: ScreenFinding | None = None


class ReportAlert(msgspec.Struct, frozen=True, kw_only=True):
    """An alert as the `alerts` channel carried it, with the event that raised it."""

    offset: int
    ts: str
    severity: str
    message: str
    eventType: str


class ReportIntervention(msgspec.Struct, frozen=True, kw_only=True):
    offset: int
    ts: str
    action: str
    by: str  # "admin", or "rule:<name>" for an automatic one
    automatic: bool
    message: str


class ProctorAnalysisReport(msgspec.Struct, frozen=True, kw_only=True):
    attemptId: str  # document 002's name for the session id
    sessionId: str
    assessmentId: str
    candidateName: str
    status: Status
    startTime: str | None
    endTime: str | None
    overallRiskScore: float
    riskLevel: RiskLevel
    riskBreakdown: RiskBreakdown
    detailedFindings: DetailedFindings
    # 0-100: the share of the session's minutes with no counted violation (actors/compliance.py).
    complianceScore: int
    verificationScore: int
    trustLevel: TrustLevel
    riskFactors: list[RiskFactor]
    violationsByType: dict[str, int]
    violationsBySeverity: dict[str, int]
    framesAnalyzed: int
    scoreSummary: ScoreSummary | None
    final: bool  # False until the session is submitted or terminated
    ledger: ScoreLedger
    completeness: RecordCompleteness
    alerts: list[ReportAlert]
    interventions: list[ReportIntervention]
    generatedAt: str
    # Who was on camera (CONTRACT.md 9.1); after generatedAt so older readers keep their order.
    identity: IdentityReport
    # Contract 9.3: the human verdict (None until given), every decision, and the automatic
    # recommendation from the trust level (document 001: accept / review / investigate).
    review: SessionReview | None = None
    reviewHistory: list[SessionReview] = msgspec.field(default_factory=list)
    recommendation: Recommendation = "accept"
    # Every answer with its grade (the report is for the institution, never the candidate).
    answers: list[CandidateAnswer] = msgspec.field(default_factory=list)
    # Issue 28: how each answer was entered, and the behaviour findings (actors/behaviour_report.py).
    behaviour: BehaviourEvidence = msgspec.field(default_factory=BehaviourEvidence)


class _Trail:
    """One fold over the log for the ledger, collecting the alerts and interventions on the way."""

    def __init__(self, config: ScoringConfig, state: SessionState) -> None:
        self.state = state
        self.ledger = LedgerBuilder(config, state.sessionId)
        self.alerts: list[ReportAlert] = []
        self.interventions: list[ReportIntervention] = []
        self.flagged_frames: list[int] = []  # offsets of the frames that raised or ended episodes

    def add(self, event: StoredEvent) -> None:
        violations = self.ledger.add(event)
        frame = (event.data or {}).get("frameId") if event.origin == "vision" else None
        if isinstance(frame, str) and frame.isdigit():
            self.flagged_frames.append(int(frame))
        for alert in alerts_for(self.state.sessionId, self.state.assessmentId, event, violations):
            self.alerts.append(
                ReportAlert(
                    offset=event.offset,
                    ts=event.ts,
                    severity=alert.severity,
                    message=alert.message,
                    eventType=event.type,
                )
            )
        if event.type == INTERVENTION:
            data = event.data or {}
            by = str(data.get("by", "admin"))
            self.interventions.append(
                ReportIntervention(
                    offset=event.offset,
                    ts=event.ts,
                    action=str(data.get("action", "")),
                    by=by,
                    automatic=by.startswith("rule:"),
                    message=str(data.get("message", "")),
                )
            )


def build_report(
    config: ScoringConfig,
    state: SessionState,
    record: SessionSnapshot,
    records: SessionRecords,
    events: list[StoredEvent],
    now: str,
    kept_frames: set[int] | None = None,
) -> ProctorAnalysisReport:
    """`events`: the session's log up to `record.offset`; `now`: when the report is made;
    `kept_frames`: the offsets of the frames kept on disk (flagged frames are listed if kept)."""
    trail = _Trail(config, state)
    for event in events:
        trail.add(event)
    ledger = trail.ledger.ledger()
    verification, risk = trail.ledger.cache.scores(config, trail.ledger.record.score)
    completeness = measure(events, state.startTime or now, state.endTime, now)
    score = record.score
    final = state.status in ("COMPLETED", "TERMINATED")
    dismissed = {entry.violationId for entry in ledger.verification if not entry.counted}
    flagged = [
        offset
        for offset in dict.fromkeys(trail.flagged_frames)
        if kept_frames is not None and offset in kept_frames
    ]
    verdict = review_record(events, verification.trustLevel)
    return ProctorAnalysisReport(
        attemptId=state.sessionId,
        sessionId=state.sessionId,
        assessmentId=state.assessmentId,
        candidateName=state.candidateName,
        status=state.status,
        startTime=state.startTime,
        endTime=state.endTime,
        overallRiskScore=risk.riskScore,
        riskLevel=risk.riskLevel,
        riskBreakdown=risk.riskBreakdown,
        detailedFindings=DetailedFindings(
            suspiciousTimestamps=sorted(
                {v.timestamp for v in records.violations if v.id not in dismissed}
            ),
            flaggedFrames=[frame_path(state.sessionId, offset) for offset in flagged],
            flaggedFrameEvents=flagged,
            recommendations=_recommendations(
                state, record, verification, risk, final, ledger, completeness
            ),
        ),
        complianceScore=compliance_score(
            records.violations,
            {d for d in dismissed if d},
            completeness.sessionStart,
            completeness.sessionSeconds,
        ),
        verificationScore=verification.verificationScore,
        trustLevel=verification.trustLevel,
        riskFactors=verification.riskFactors,
        violationsByType={kind: n for kind, n in sorted(score.by_type.items()) if n},
        violationsBySeverity={level: n for level, n in sorted(score.by_severity.items()) if n},
        framesAnalyzed=score.frames,
        scoreSummary=records.scoreSummary,
        final=final,
        ledger=ledger,
        completeness=completeness,
        alerts=trail.alerts,
        interventions=trail.interventions,
        generatedAt=now,
        identity=identity_report(record.identity, events),
        review=verdict.review,
        reviewHistory=verdict.history,
        recommendation=verdict.recommendation,
        answers=records.answers,
        behaviour=behaviour_evidence(state.sessionId, events),
    )


def _recommendations(
    state: SessionState,
    record: SessionSnapshot,
    verification: Verification,
    risk: Risk,
    final: bool,
    ledger: ScoreLedger,
    completeness: RecordCompleteness,
) -> list[str]:
    score = record.score
    advice = [_TRUST_ADVICE[verification.trustLevel]]
    if ledger.automatic != ledger.reviewed:
        automatic = ledger.automatic
        advice.append(
            f"Reviewers changed the verdict: automatic {automatic.verificationScore} "
            f"({automatic.trustLevel}), risk {automatic.riskScore:.2f} ({automatic.riskLevel}); "
            f"reviewed {verification.verificationScore} ({verification.trustLevel}), risk "
            f"{risk.riskScore:.2f} ({risk.riskLevel})."
        )
    if completeness.offlineGaps:
        advice.append(
            f"The candidate was offline {completeness.offlineSeconds:.0f} s in "
            f"{len(completeness.offlineGaps)} gap(s): nothing was observed then, so no violation "
            "could be recorded for that time."
        )
    if risk.riskLevel in ("high", "critical"):
        advice.append(
            f"Risk is {risk.riskLevel} ({risk.riskScore:.2f}): review the timeline and the "
            "flagged frames before accepting."
        )
    if record.identity.status == "none":
        advice.append(NOT_CHECKED)
    elif score.by_type.get("IDENTITY_MISMATCH"):
        advice.append(
            f"Someone other than the reference person was on camera in "
            f"{score.by_type['IDENTITY_MISMATCH']} episode(s): compare the flagged frames with "
            "the reference before accepting."
        )
    if score.device_changes:
        advice.append(
            f"The device changed {score.device_changes} time(s) during the session: verify the "
            "candidate's identity."
        )
    if score.ip_changes:
        advice.append(
            f"The IP address changed {score.ip_changes} time(s): check for a hand-over to "
            "another person or place."
        )
    if record.manualReviewRequired:
        advice.append(
            "Webcam analysis was unavailable during the session: review the session manually "
            "(document 002's fallback); the face and object parts of the risk score are "
            "incomplete."
        )
    if score.frames == 0:
        advice.append(
            "No webcam frames were analysed: face and object checks did not run, so the risk "
            "score rests on tab switches and audio only."
        )
    if state.status == "TERMINATED":
        advice.append("A proctor terminated the session before it was submitted.")
    if not final:
        advice.append("The session is not finished: this report is provisional.")
    return advice
