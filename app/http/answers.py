"""The answers of the REST API that are not domain records: the session as document 001's
CandidateSession, and what wraps it. Handlers build these; /openapi.json describes them."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from actors.grading import ScoreSummary
from actors.identity import IdentityState
from actors.record_types import (
    AntiCheatViolation,
    CandidateAnswer,
    DeviceInfo,
    QuestionTracking,
    RealTimeMonitoring,
    ScreenRecordingData,
    SessionBehavior,
    SessionRecords,
)
from actors.scoring import Risk, RiskLevel, TrustLevel, Verification
from actors.session_review import Recommendation, ReviewRecord, SessionReview
from actors.state import SessionState, Status
from app.storage.store import SessionRecord


class CandidateSession(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    candidateEmail: str
    candidateName: str
    candidatePhone: str | None
    assessmentId: str
    startTime: str
    endTime: str | None
    status: Status
    currentQuestionIndex: int | None
    ipAddress: str | None
    userAgent: str | None
    createdAt: str
    updatedAt: str
    verificationScore: int
    trustLevel: TrustLevel
    riskScore: float
    riskLevel: RiskLevel
    connected: bool


class CreatedSession(CandidateSession, frozen=True, kw_only=True):
    # Returned once: only its hash is stored.
    candidateToken: str


class IdentityView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who is on camera (CONTRACT.md 9.1): the status, which reference, the last match score."""

    status: Literal["none", "enrolled", "verified", "mismatch"]
    reference: Literal["photo", "frames"] | None
    lastMatchScore: float | None = None


class SessionDetail(CandidateSession, frozen=True, kw_only=True):
    """`GET /candidate-sessions/:id`: the session, its records, and its live scores."""

    answers: list[CandidateAnswer]
    violations: list[AntiCheatViolation]
    deviceInfo: DeviceInfo | None
    sessionBehavior: SessionBehavior
    monitoring: RealTimeMonitoring
    screenRecording: ScreenRecordingData | None
    questionTracking: list[QuestionTracking]
    scoreSummary: ScoreSummary | None
    verification: Verification
    risk: Risk
    state: SessionState
    identity: IdentityView
    # Contract 9.3: the latest human verdict (None until one), every decision, and the
    # automatic recommendation from the trust level.
    review: SessionReview | None = None
    reviewHistory: list[SessionReview] = msgspec.field(default_factory=list)
    recommendation: Recommendation | None = None


class SubmitResult(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True]
    session: CandidateSession


class Health(msgspec.Struct, frozen=True):
    status: Literal["ok"]


def candidate_session(record: SessionRecord, state: SessionState | None = None) -> CandidateSession:
    """The session as stored, with `state` (the live one, if given) for what changes."""
    return msgspec.convert(_session_fields(record, state), CandidateSession)


def created_session(record: SessionRecord, token: str) -> CreatedSession:
    return msgspec.convert(
        {**_session_fields(record, None), "candidateToken": token}, CreatedSession
    )


def session_detail(
    record: SessionRecord,
    state: SessionState,
    records: SessionRecords,
    verification: Verification,
    risk: Risk,
    identity: IdentityState,
    verdict: ReviewRecord | None = None,
) -> SessionDetail:
    return SessionDetail(
        **_session_fields(record, state),
        **msgspec.structs.asdict(records),
        verification=verification,
        risk=risk,
        state=state,
        identity=msgspec.convert(identity.public(), IdentityView),
        review=None if verdict is None else verdict.review,
        reviewHistory=[] if verdict is None else verdict.history,
        recommendation=None if verdict is None else verdict.recommendation,
    )


def _session_fields(record: SessionRecord, state: SessionState | None) -> dict[str, Any]:
    current = state if state is not None else record.state
    return {
        "id": record.id,
        "candidateEmail": record.candidateEmail,
        "candidateName": record.candidateName,
        "candidatePhone": record.candidatePhone,
        "assessmentId": record.assessmentId,
        "startTime": record.startTime,
        "endTime": current.endTime,
        "status": current.status,
        "currentQuestionIndex": current.currentQuestionIndex,
        "ipAddress": record.ipAddress,
        "userAgent": record.userAgent,
        "createdAt": record.createdAt,
        "updatedAt": record.updatedAt,
        "verificationScore": current.verificationScore,
        "trustLevel": current.trustLevel,
        "riskScore": current.riskScore,
        "riskLevel": current.riskLevel,
        "connected": current.connected,
    }
