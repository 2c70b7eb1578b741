"""Document 002's post-test `ProctorAnalysisReport`, built from a session's records and scores.
Every figure in it is one the API shows elsewhere; the recommendations say which figure led to
them."""

from __future__ import annotations

from typing import Final

import msgspec

from actors.grading import ScoreSummary
from actors.record_types import SessionRecords
from actors.scoring import Risk, RiskBreakdown, RiskFactor, RiskLevel, TrustLevel, Verification
from actors.state import SessionSnapshot, SessionState, Status

_TRUST_ADVICE: Final = {
    "HIGH": "Accept the results with confidence: minimal or no violations (trust HIGH).",
    "MEDIUM": "Review recommended: some integrity concerns (trust MEDIUM).",
    "LOW": "Flag for investigation: significant integrity concerns (trust LOW).",
}


class DetailedFindings(msgspec.Struct, frozen=True, kw_only=True):
    suspiciousTimestamps: list[str]
    # Ids of stored webcam frames that a detector flagged (none until frames are analysed).
    flaggedFrames: list[str]
    recommendations: list[str]


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
    # 0-100: the verification (trust) score of document 001, the session's rule compliance.
    complianceScore: int
    verificationScore: int
    trustLevel: TrustLevel
    riskFactors: list[RiskFactor]
    violationsByType: dict[str, int]
    violationsBySeverity: dict[str, int]
    framesAnalyzed: int
    scoreSummary: ScoreSummary | None
    final: bool  # False until the session is submitted or terminated


def build_report(
    state: SessionState,
    record: SessionSnapshot,
    records: SessionRecords,
    verification: Verification,
    risk: Risk,
) -> ProctorAnalysisReport:
    score = record.score
    final = state.status in ("COMPLETED", "TERMINATED")
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
            suspiciousTimestamps=sorted({v.timestamp for v in records.violations}),
            flaggedFrames=[],
            recommendations=_recommendations(state, record, verification, risk, final),
        ),
        complianceScore=verification.verificationScore,
        verificationScore=verification.verificationScore,
        trustLevel=verification.trustLevel,
        riskFactors=verification.riskFactors,
        violationsByType=dict(sorted(score.by_type.items())),
        violationsBySeverity=dict(sorted(score.by_severity.items())),
        framesAnalyzed=score.frames,
        scoreSummary=records.scoreSummary,
        final=final,
    )


def _recommendations(
    state: SessionState,
    record: SessionSnapshot,
    verification: Verification,
    risk: Risk,
    final: bool,
) -> list[str]:
    score = record.score
    advice = [_TRUST_ADVICE[verification.trustLevel]]
    if risk.riskLevel in ("high", "critical"):
        advice.append(
            f"Risk is {risk.riskLevel} ({risk.riskScore:.2f}): review the timeline and the "
            "flagged frames before accepting."
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
