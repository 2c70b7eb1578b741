"""Document 001's records of a session, as the API answers them (and as /openapi.json describes
them). `actors.records` derives them from the event log."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from actors.events import DeviceInfoData
from actors.grading import ScoreSummary, ScoringMethod
from actors.scoring import Severity


class CandidateAnswer(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    sessionId: str
    questionId: str
    response: Any
    timeSpent: float
    submittedAt: str
    attempts: int
    # From the assessment, when it was defined (POST /assessments) and names the question.
    score: float | None = None
    maxScore: float | None = None
    percentage: float | None = None
    difficulty: str | None = None
    category: str | None = None
    scoringMethod: ScoringMethod | None = None


class ViolationReview(msgspec.Struct, frozen=True, kw_only=True):
    """A reviewer's latest decision on a violation (POST .../violations/:vid/review)."""

    decision: Literal["dismiss", "confirm"]
    reason: str
    by: str
    at: str
    offset: int  # of the stored `violation_reviewed` event


class AntiCheatViolation(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    sessionId: str
    type: str
    description: str
    timestamp: str
    questionId: str | None
    severity: Severity
    details: dict[str, Any]
    resolved: bool  # a reviewer decided on it; `review` says what
    review: ViolationReview | None = None
    # Raised under an accommodation (a disabled check, actors/exam.py): kept, costs no points;
    # `details.accommodation` says which.
    accommodated: bool = False


class DeviceChange(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    timestamp: str
    offset: int
    kinds: list[Literal["DEVICE", "IP_ADDRESS"]]
    deviceFingerprint: str | None = None
    userAgent: str | None = None
    platform: str | None = None
    ipAddress: str | None = None


class DeviceInfo(DeviceInfoData, frozen=True, kw_only=True, omit_defaults=True):
    """The device as first captured; later changes of device or address are in `changes`."""

    id: str
    sessionId: str
    ipAddress: str | None = None
    capturedAt: str
    changes: list[DeviceChange]


class NavigationPattern(msgspec.Struct, frozen=True, kw_only=True):
    """Question views in order (the first 1,000), and moves forward or back among them."""

    sequence: list[str]
    views: int
    forward: int
    backward: int
    revisits: int
    linear: bool  # never went back


class SessionBehavior(msgspec.Struct, frozen=True, kw_only=True):
    sessionId: str
    totalTabSwitches: int
    totalCopyPasteAttempts: int
    totalFullscreenExits: int
    totalIdleTime: float
    averageResponseTime: float
    suspiciousActivityCount: int
    focusLossCount: int
    anomalyDetected: bool
    questionNavigationPattern: NavigationPattern
    # Only the client can observe these (PUT .../behavioral-profile).
    mouseMovementPattern: Any = None
    keystrokePattern: Any = None
    behavioralScore: float | None = None
    # What the client reported of what the server counts itself: kept beside, never over, it.
    reported: dict[str, Any] = {}


class RealTimeMonitoring(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    sessionId: str
    currentQuestionId: str | None
    isActive: bool
    lastActivityTimestamp: str | None
    currentFocusState: Literal["FOCUSED", "BLURRED"]
    warningsIssued: int
    autoSaveCount: int
    connectionStatus: Literal["CONNECTED", "DISCONNECTED"]
    # From the newest heartbeat that carried them (`data: {batteryLevel, cpuUsage, memoryUsage}`).
    batteryLevel: float | None = None
    cpuUsage: float | None = None
    memoryUsage: float | None = None


class ScreenRecordingData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    sessionId: str
    createdAt: str
    updatedAt: str
    recordingStartTime: str | None = None
    recordingEndTime: str | None = None
    totalDuration: float | None = None
    recordingUrl: str | None = None
    thumbnailUrl: str | None = None
    fileSize: int | None = None
    format: str | None = None
    quality: str | None = None
    uploadStatus: str | None = None
    processingStatus: str | None = None
    facialRecognitionData: Any = None


class QuestionTracking(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    sessionId: str
    questionId: str
    firstViewedAt: str | None
    lastViewedAt: str | None
    timeSpent: float
    revisitCount: int
    attempts: int
    changedAnswerCount: int
    skipped: bool
    flagged: bool
    focusLossEvents: int
    copyPasteAttempts: int
    tabSwitches: int
    suspiciousActivity: bool
    metadata: dict[str, Any]
    # The client's own counts (PUT .../tracking-data), beside the server's.
    reported: dict[str, Any]


class SessionRecords(msgspec.Struct, frozen=True, kw_only=True):
    answers: list[CandidateAnswer]
    violations: list[AntiCheatViolation]
    deviceInfo: DeviceInfo | None
    sessionBehavior: SessionBehavior
    monitoring: RealTimeMonitoring
    screenRecording: ScreenRecordingData | None
    questionTracking: list[QuestionTracking]
    # Once submitted, if the assessment was defined (POST /assessments); else null.
    scoreSummary: ScoreSummary | None
