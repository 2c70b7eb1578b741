"""Document 001's related records of a session, derived from its stored events.

Derived, not stored: the event log is the one source of truth, so REST, WebSocket and replays can
never disagree about what happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec

from actors import scoring
from actors.bounds import clamp_total
from actors.config import ScoringConfig
from actors.events import StoredEvent
from actors.grading import Assessment, ScoreSummary, grade, summarize_scores
from actors.lifecycle import fold
from actors.question_tracking import QuestionTracker
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
from actors.state import FINISHED, SessionSnapshot

_DESCRIPTIONS: Final = {
    "TAB_SWITCH": "Candidate switched to another tab",
    "COPY_PASTE": "Copy or paste was attempted",
    "FULLSCREEN_EXIT": "Candidate exited fullscreen mode",
    "FOCUS_LOSS": "The assessment window lost focus",
    "DEVTOOLS_OPENED": "Developer tools were opened",
    "RIGHT_CLICK": "Right click was attempted",
    "MULTIPLE_TABS": "The assessment is open in more than one tab",
    "EXCESSIVE_IDLE": "Candidate was idle",
    "RECORDING_FAILURE": "Screen recording stopped",
    "FACE_NOT_DETECTED": "No face was visible to the camera",
    "MULTIPLE_FACES": "More than one face was visible to the camera",
    scoring.MULTIPLE_VIOLATIONS: "Three or more violations on the same question",
}


BEHAVIOR_REPORTED: Final = "behavior_reported"  # PUT .../behavioral-profile: data = the fields
SCREEN_RECORDING_UPDATED: Final = "screen_recording_updated"  # PUT .../screen-recording
# The ScreenRecordingData fields the server measures once it stores the chunks (issue 24).
SERVER_KEPT_RECORDING: Final = frozenset(
    {"recordingStartTime", "recordingEndTime", "totalDuration", "fileSize", "format",
     "uploadStatus", "recordingUrl"}
)  # fmt: skip
ANSWER_GRADED: Final = "answer_graded"  # POST .../grades: questionId, data {score, comment, by}
# SessionBehavior fields only the client can observe; the rest the server counts itself.
_CLIENT_ONLY_BEHAVIOR: Final = ("mouseMovementPattern", "keystrokePattern", "behavioralScore")
NAVIGATION_KEPT: Final = 1000  # question views listed in the navigation pattern, the first ones


_DEVICE_LOAD: Final = ("batteryLevel", "cpuUsage", "memoryUsage")


def related_records(
    config: ScoringConfig,
    session_id: str,
    events: Iterable[StoredEvent],
    connected: bool,
    assessment: Assessment | None = None,
) -> SessionRecords:
    """`assessment`, if the session's was defined, grades the answers and gives the summary."""
    builder = _RecordBuilder(config, session_id)
    for event in events:
        builder.add(event)
    return builder.records(connected, assessment)


class _RecordBuilder:
    """Folds a session's log into document 001's records, one event at a time."""

    def __init__(self, config: ScoringConfig, session_id: str) -> None:
        self.config = config
        self.session_id = session_id
        self.record = SessionSnapshot()
        self.answers: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        self.violations: list[dict[str, Any]] = []
        self.violation_at: dict[str, int] = {}  # violation id -> index in `violations`
        self.device: dict[str, Any] | None = None
        self.device_changes: list[dict[str, Any]] = []
        self.reported_behavior: dict[str, Any] = {}
        self.recording: dict[str, Any] | None = None
        self.recording_by_server = False  # issue 24: see _update_recording
        self.idle_seconds = 0.0
        self.focused = True
        self.tracking = QuestionTracker(session_id)
        self.final_answers: dict[str, Any] = {}
        self.autosaves = 0
        self.device_load: dict[str, float] = {}
        self.navigation = _Navigation()
        self.manual_scores: dict[str, float] = {}
        self.submitted_at: str | None = None
        self.graded_at: str | None = None

    def add(self, event: StoredEvent) -> None:
        score = self.record.score
        changes_before = (score.device_changes, score.ip_changes)
        # Answers count only while the session runs: one sent after the submission or the
        # termination is stored (the log keeps everything) but changes no grade.
        answers_closed = self.record.status in FINISHED
        raised = fold(self.config, self.record, event)
        if (score.device_changes, score.ip_changes) != changes_before:
            self._note_change(event, changes_before)
        self.tracking.add(event, raised)
        for index, violation in enumerate(raised):
            record = _violation(self.session_id, event, violation, index)
            self.violation_at[record["id"]] = len(self.violations)
            self.violations.append(record)
        data = event.data or {}
        kind = event.type
        if kind == scoring.VIOLATION_REVIEWED:
            self._on_reviewed(event, data)
        if kind == "answer_submitted" and event.questionId is not None and not answers_closed:
            self.autosaves += 1
            self._add_answer(f"{event.offset}", event.questionId, data, event.ts)
        elif kind == "assessment_submitted" and not answers_closed:
            self._on_submitted(event, data)
        elif kind == ANSWER_GRADED and event.questionId is not None:
            self.manual_scores[event.questionId] = float(data["score"])
            self.graded_at = event.ts
        elif kind == "question_viewed" and event.questionId is not None:
            self.navigation.view(event.questionId)
        elif kind == "device_info":
            self._capture_device(event, data)
        elif kind == BEHAVIOR_REPORTED:
            self.reported_behavior.update(data)
        elif kind == SCREEN_RECORDING_UPDATED:
            self._update_recording(event, data)
        elif kind == "heartbeat" and data:
            for key in _DEVICE_LOAD:
                value = data.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.device_load[key] = value
        elif kind == "idle_detected":
            self.idle_seconds = clamp_total(self.idle_seconds + float(data.get("seconds", 0)))
        if kind in ("focus_lost", "tab_switch_detected"):
            self.focused = False
        elif event.origin == "candidate" and kind != "heartbeat":
            self.focused = True

    def _on_reviewed(self, event: StoredEvent, data: dict[str, Any]) -> None:
        index = self.violation_at.get(str(data.get("violationId")))
        if index is None:
            return
        self.violations[index] = {
            **self.violations[index],
            "resolved": True,
            "review": {
                "decision": data["decision"],
                "reason": data.get("reason", ""),
                "by": data.get("by", ""),
                "at": event.ts,
                "offset": event.offset,
            },
        }

    def _on_submitted(self, event: StoredEvent, data: dict[str, Any]) -> None:
        self.submitted_at = event.ts
        if event.origin != "rest":
            return
        for index, answer in enumerate(data.get("answers", ())):  # validated by the REST submit
            self._add_answer(
                f"{event.offset}.{index}",
                answer["questionId"],
                answer,
                answer.get("submittedAt") or event.ts,
            )

    def _add_answer(self, key: str, question: str, data: dict[str, Any], submitted_at: str) -> None:
        self.attempts[question] = self.attempts.get(question, 0) + 1
        self.final_answers[question] = data.get("response")
        self.answers.append(
            {
                "id": f"{self.session_id}:{key}",
                "sessionId": self.session_id,
                "questionId": question,
                "response": data.get("response"),
                "timeSpent": data.get("timeSpent", 0),
                "submittedAt": submitted_at,
                "attempts": self.attempts[question],
            }
        )

    def _capture_device(self, event: StoredEvent, data: dict[str, Any]) -> None:
        """Captured once: the first report is the record; later reports of the same device only
        fill in what it lacked; changes of device or address are listed (`_note_change`)."""
        if self.device is None:
            self.device = {
                "id": f"{self.session_id}:device",
                "sessionId": self.session_id,
                **data,
                "capturedAt": event.ts,
            }
            return
        if _same_device(self.device, data):
            for key, value in data.items():
                self.device.setdefault(key, value)

    def _note_change(self, event: StoredEvent, before: tuple[int, int]) -> None:
        data = event.data or {}
        score = self.record.score
        change: dict[str, Any] = {"timestamp": event.ts, "offset": event.offset, "kinds": []}
        if score.device_changes != before[0]:
            change["kinds"].append("DEVICE")
            for key in ("deviceFingerprint", "userAgent", "platform"):
                if key in data:
                    change[key] = data[key]
        if score.ip_changes != before[1]:
            change["kinds"].append("IP_ADDRESS")
            change["ipAddress"] = score.ip_address
        self.device_changes.append(change)

    def _update_recording(self, event: StoredEvent, data: dict[str, Any]) -> None:
        # Issue 24: once the server holds the recording (origin "screen", app/http/routes/
        # screen.py) its measures stand; a client's PUT may still add the fields it alone knows.
        if event.origin == "screen":
            self.recording_by_server = True
        elif self.recording_by_server:
            data = {k: v for k, v in data.items() if k not in SERVER_KEPT_RECORDING}
        if self.recording is None:
            self.recording = {
                "id": f"{self.session_id}:recording",
                "sessionId": self.session_id,
                "createdAt": event.ts,
            }
        self.recording.update(data)
        self.recording["updatedAt"] = event.ts

    def records(self, connected: bool, assessment: Assessment | None) -> SessionRecords:
        device = None
        if self.device is not None:
            device = msgspec.convert({**self.device, "changes": self.device_changes}, DeviceInfo)
        return SessionRecords(
            answers=[self._graded(answer, assessment) for answer in self.answers],
            violations=[msgspec.convert(v, AntiCheatViolation) for v in self.violations],
            deviceInfo=device,
            sessionBehavior=msgspec.convert(self._behavior(), SessionBehavior),
            monitoring=msgspec.convert(self._monitoring(connected), RealTimeMonitoring),
            screenRecording=(
                None
                if self.recording is None
                else msgspec.convert(self.recording, ScreenRecordingData)
            ),
            questionTracking=[
                msgspec.convert(record, QuestionTracking) for record in self.tracking.records()
            ],
            scoreSummary=self._score_summary(assessment),
        )

    def _graded(self, answer: dict[str, Any], assessment: Assessment | None) -> CandidateAnswer:
        question = None if assessment is None else assessment.question(answer["questionId"])
        if question is None:
            return msgspec.convert(answer, CandidateAnswer)
        result = grade(question, answer["response"], self.manual_scores.get(question.id))
        return msgspec.convert({**answer, **msgspec.structs.asdict(result)}, CandidateAnswer)

    def _score_summary(self, assessment: Assessment | None) -> ScoreSummary | None:
        if assessment is None or self.submitted_at is None:
            return None
        return summarize_scores(
            self.session_id,
            assessment,
            self.final_answers,
            self.manual_scores,
            created_at=self.submitted_at,
            updated_at=max(self.submitted_at, self.graded_at or self.submitted_at),
        )

    def _behavior(self) -> dict[str, Any]:
        score = self.record.score
        answered = [answer["timeSpent"] for answer in self.answers]
        behavior: dict[str, Any] = {
            "sessionId": self.session_id,
            "totalTabSwitches": score.tab_switches,
            "totalCopyPasteAttempts": score.by_type.get("COPY_PASTE", 0),
            "totalFullscreenExits": score.by_type.get("FULLSCREEN_EXIT", 0),
            "totalIdleTime": self.idle_seconds,
            "averageResponseTime": clamp_total(sum(map(clamp_total, answered)) / len(answered))
            if answered
            else 0,
            "suspiciousActivityCount": score.violations,
            "focusLossCount": score.by_type.get("FOCUS_LOSS", 0),
            "anomalyDetected": score.by_severity.get("HIGH", 0) > 0,
            "questionNavigationPattern": self.navigation.pattern(),
        }
        for key in _CLIENT_ONLY_BEHAVIOR:
            if key in self.reported_behavior:
                behavior[key] = self.reported_behavior[key]
        # What the client said about what the server also counts: kept beside, never over, it.
        behavior["reported"] = {
            k: v for k, v in self.reported_behavior.items() if k not in _CLIENT_ONLY_BEHAVIOR
        }
        return behavior

    def _monitoring(self, connected: bool) -> dict[str, Any]:
        return {
            "id": f"{self.session_id}:monitoring",
            "sessionId": self.session_id,
            "currentQuestionId": self.record.score.current_question,
            "isActive": connected and self.record.status == "IN_PROGRESS",
            "lastActivityTimestamp": self.record.lastEventAt,
            "currentFocusState": "FOCUSED" if self.focused else "BLURRED",
            "warningsIssued": self.record.warningsIssued,
            "autoSaveCount": self.autosaves,
            "connectionStatus": "CONNECTED" if connected else "DISCONNECTED",
            **self.device_load,
        }


class _Navigation:
    """Document 001's "forward/backward navigation": the order questions were viewed in. Order
    is the order of first views (the server does not know the assessment's layout), so moving to
    a question first seen earlier is backward, and to a new one forward."""

    def __init__(self) -> None:
        self.order: dict[str, int] = {}
        self.sequence: list[str] = []
        self.views = self.forward = self.backward = self.revisits = 0
        self.current: str | None = None

    def view(self, question: str) -> None:
        self.views += 1
        if len(self.sequence) < NAVIGATION_KEPT:
            self.sequence.append(question)
        if question == self.current:
            return
        if question in self.order:
            self.revisits += 1
        place = self.order.setdefault(question, len(self.order))
        if self.current is not None:
            if place > self.order[self.current]:
                self.forward += 1
            else:
                self.backward += 1
        self.current = question

    def pattern(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "views": self.views,
            "forward": self.forward,
            "backward": self.backward,
            "revisits": self.revisits,
            "linear": self.backward == 0,
        }


def _same_device(captured: dict[str, Any], report: dict[str, Any]) -> bool:
    fingerprint = report.get("deviceFingerprint")
    if fingerprint or captured.get("deviceFingerprint"):
        return bool(fingerprint == captured.get("deviceFingerprint"))
    return all(report.get(key) == captured.get(key) for key in ("userAgent", "platform"))


def violation_record(
    session_id: str, event: StoredEvent, violation: scoring.Violation, index: int
) -> AntiCheatViolation:
    return msgspec.convert(_violation(session_id, event, violation, index), AntiCheatViolation)


def _violation(
    session_id: str, event: StoredEvent, violation: scoring.Violation, index: int
) -> dict[str, Any]:
    """Document 001's AntiCheatViolation for the `index`th violation `event` raised."""
    data = event.data or {}
    description = _DESCRIPTIONS.get(violation.type, violation.type.replace("_", " ").capitalize())
    reported = (
        event.type == scoring.VIOLATION_REPORTED and violation.type != scoring.MULTIPLE_VIOLATIONS
    )
    if reported:
        description = str(data.get("description") or description)
        extra = data.get("metadata") or {}
    else:
        extra = {} if index else data
    return {
        "id": scoring.violation_identity(session_id, event.offset, index),
        "sessionId": session_id,
        "type": violation.type,
        "description": description,
        "timestamp": event.ts,
        "questionId": violation.questionId,
        "severity": violation.severity,
        "details": {
            "event": event.type,
            "offset": event.offset,
            **extra,
            **_accommodation(violation),
        },
        "resolved": False,
        "accommodated": violation.accommodated,
    }


def _accommodation(violation: scoring.Violation) -> dict[str, Any]:
    """Which accommodation a violation was raised under (actors/exam.py)."""
    if not violation.accommodated:
        return {}
    return {"accommodation": {"disabledCheck": violation.type}}
