"""What a session is: its identity, the summary admins see, and the snapshot that restores it."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from actors.audio_episodes import AudioRuns
from actors.behaviour.evidence import BehaviourRecord
from actors.camera_watch import CameraWatch
from actors.exam import ExamRecord
from actors.identity import NOT_CHECKED, IdentityState, IdentitySummary
from actors.scoring import RiskLevel, ScoreState, TrustLevel
from actors.vision_episodes import VisionRuns

Status = Literal["IN_PROGRESS", "PAUSED", "COMPLETED", "TERMINATED", "FAILED"]
FINISHED: Final = frozenset({"COMPLETED", "TERMINATED", "FAILED"})
SNAPSHOT_VERSION: Final = 1


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Who the session belongs to; fixed at creation."""

    sessionId: str
    assessmentId: str
    candidateName: str
    candidateEmail: str
    candidatePhone: str | None = None
    startTime: str
    tokenHash: str


class SessionState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """CONTRACT.md section 5's SessionState, published by the session's actor after every change."""

    sessionId: str
    assessmentId: str
    candidateName: str
    status: Status
    connected: bool
    verificationScore: int
    trustLevel: TrustLevel
    riskScore: float
    riskLevel: RiskLevel
    violationCount: int
    lastEventAt: str | None
    lastOffset: int = 0
    lastSeq: int = 0
    currentQuestionId: str | None = None
    warningsIssued: int = 0
    startTime: str | None = None
    endTime: str | None = None
    currentQuestionIndex: int | None = None
    # Frames went unanalysed because vision was down (document 002's fallback): a person must
    # review what the camera saw.
    manualReviewRequired: bool = False
    lastEventType: str | None = None
    # Who is on camera (CONTRACT.md 9.1): status, reference, last match score.
    identity: IdentitySummary = NOT_CHECKED


class SessionSnapshot(msgspec.Struct, kw_only=True):
    """The session actor's whole state as stored; unknown fields are ignored so versions mix."""

    version: int = SNAPSHOT_VERSION
    offset: int = 0
    lastSeq: int = 0
    status: Status = "IN_PROGRESS"
    submitted: bool = False
    lastEventAt: str | None = None
    lastEventType: str | None = None
    endTime: str | None = None
    warningsIssued: int = 0
    currentQuestionIndex: int | None = None
    # Between a `user_disconnected` and the next connection: the reconnection ends the gap.
    offline: bool = False
    firedRules: list[str] = msgspec.field(default_factory=list)
    manualReviewRequired: bool = False
    vision: VisionRuns = msgspec.field(default_factory=VisionRuns)
    identity: IdentityState = msgspec.field(default_factory=IdentityState)
    score: ScoreState = msgspec.field(default_factory=ScoreState)
    # Exam control (actors/exam.py) and the camera that goes dark (actors/camera_watch.py).
    exam: ExamRecord = msgspec.field(default_factory=ExamRecord)
    camera: CameraWatch = msgspec.field(default_factory=CameraWatch)
    # Issue 24: the open audio run and the microphone's state (actors/audio_episodes.py).
    audio: AudioRuns = msgspec.field(default_factory=AudioRuns)
    # Issue 28: the behaviour factors' states and what was flagged (actors/behaviour_watch.py).
    behaviour: BehaviourRecord = msgspec.field(default_factory=BehaviourRecord)


SNAPSHOT_DECODER: Final = msgspec.json.Decoder(SessionSnapshot)
