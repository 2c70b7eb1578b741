"""The catalogue of event types: every type a stored event can have, who makes it, and what kind
of thing it is, for people reading a timeline (docs/protocol.md).

Candidate types come from the candidate decoder's tagged union itself, so a new candidate event
cannot be left out; server-made types are the constants of the modules that make them. The
dashboard and the SDK read this catalogue from `/sdk/protocol.js` (app/http/protocol_js.py).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import msgspec

from actors import events, exam, scoring
from actors.alert_rules import ALERT_RAISED
from actors.audio_episodes import (
    AUDIO_ANOMALY,
    AUDIO_EPISODE_ENDED,
    AUDIO_RESTORED,
    AUDIO_UNAVAILABLE,
)
from actors.camera_watch import CAMERA_OFF, CAMERA_OFF_ENDED
from actors.completeness import FRAMES_SKIPPED
from actors.identity import (
    CALIBRATION_CHECKED,
    IDENTITY_ENROLLED,
    IDENTITY_EPISODE_ENDED,
    IDENTITY_MISMATCH,
)
from actors.lifecycle import SESSION_UPDATED
from actors.question_tracking import TRACKING_REPORTED
from actors.records import ANSWER_GRADED, BEHAVIOR_REPORTED, SCREEN_RECORDING_UPDATED
from actors.session_review import SESSION_REVIEWED
from actors.vision_episodes import VISION_EPISODE_ENDED

# How the dashboard shows an event: a warning may cost the candidate points; routine ones are
# frequent and hidden from the timeline unless asked for.
Kind = Literal["warning", "intervention", "review", "lifecycle", "answer", "routine", "info"]
Maker = Literal["candidate", "server"]


class EventType(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    madeBy: Maker
    kind: Kind
    meaning: str
    # It changes what the session's records or report show beyond its SessionState (a reviewed
    # violation, a flagged frame, an alert): a client showing those reads them again.
    changesRecords: bool = False


def tag_of(cls: type[events.CandidateEvent]) -> str:
    """The `type` a candidate event class is sent with."""
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str), f"expected a tagged event class, got {cls!r}"
    return tag


CANDIDATE_EVENT_CLASSES: Final[tuple[type[events.CandidateEvent], ...]] = get_args(
    events.AnyCandidateEvent
)

# Keyed by class, not by name: a type's spelling lives only on its Struct.
_CANDIDATE: Final[dict[type[events.CandidateEvent], tuple[Kind, str]]] = {
    events.AssessmentStarted: ("lifecycle", "The candidate began the assessment."),
    events.PermissionChecked: (
        "info",
        "The system check asked for the camera and microphone: data {camera, microphone}.",
    ),
    events.ConsentGiven: (
        "lifecycle",
        "The candidate answered the consent text: data {accepted, textSha256}.",
    ),
    events.CameraLost: (
        "warning",
        "The webcam was refused or stopped: data {reason: denied | ended | unavailable}.",
    ),
    events.QuestionViewed: ("info", "The candidate opened a question."),
    events.AnswerSubmitted: ("answer", "An answer: data {response, timeSpent (seconds)}."),
    events.AssessmentSubmitted: ("lifecycle", "The candidate submitted the assessment."),
    events.TabSwitchDetected: ("warning", "The page was hidden (TAB_SWITCH, MEDIUM)."),
    events.CopyAttempt: ("warning", "Copy or cut (COPY_PASTE, MEDIUM)."),
    events.PasteAttempt: ("warning", "Paste (COPY_PASTE, MEDIUM)."),
    events.InspectElementOpened: ("warning", "Developer tools opened (DEVTOOLS_OPENED, HIGH)."),
    events.FullscreenExit: ("warning", "Fullscreen left (FULLSCREEN_EXIT, MEDIUM)."),
    events.FocusLost: ("warning", "Focus lost: data {durationMs} (FOCUS_LOSS, LOW under 5 s)."),
    events.RightClickAttempt: ("warning", "Context menu asked for (RIGHT_CLICK, LOW)."),
    events.MultipleTabsDetected: ("warning", "The session open in two tabs (MULTIPLE_TABS)."),
    events.IdleDetected: ("warning", "No input for a while: data {seconds} (EXCESSIVE_IDLE)."),
    events.ScreenRecordingStopped: ("warning", "Screen share ended (RECORDING_FAILURE, HIGH)."),
    events.DeviceInfoReported: ("info", "The browser's DeviceInfo fields (document 001)."),
    events.Heartbeat: ("routine", "Proof of presence, every 30 s by default."),
    events.PauseAcknowledged: ("intervention", "The candidate acknowledged a pause: it ends."),
    events.MultipleMonitorsDetected: (
        "warning",
        "More than one screen (MULTIPLE_MONITORS, MEDIUM).",
    ),
    events.BehaviourWindow: (
        "routine",
        "How an answer was produced in a window of at most 10 s: data {windowMs, keys, text, "
        "pointer, untrusted} (docs/behaviour.md); never which keys or what text.",
    ),
}

_SERVER: Final[tuple[tuple[str, Kind, str], ...]] = (
    (events.USER_DISCONNECTED, "lifecycle", "The candidate socket closed: data {code}."),
    (events.USER_RECONNECTED, "lifecycle", "The candidate came back after a disconnect."),
    (events.FACE_NOT_DETECTED, "warning", "No face on camera, once per episode (HIGH)."),
    (events.MULTIPLE_FACES_DETECTED, "warning", "Several faces on camera, once per episode."),
    (events.LOOKING_AWAY, "warning", "The candidate looked away, once per episode."),
    (events.OBJECT_DETECTED, "warning", "A phone or book on camera: data {label, confidence}."),
    (events.CAMERA_UNUSABLE, "warning", "Frames too poor to judge: data {reason, episode}."),
    (events.VISION_UNAVAILABLE, "info", "Frames could not be analysed: data {reason}."),
    (
        events.INTERVENTION,
        "intervention",
        "warn/pause/resume/terminate: data {action, message, by}.",
    ),
    (ALERT_RAISED, "intervention", "An alert rule fired: data {rule, severity, message}."),
    (scoring.VIOLATION_REPORTED, "warning", "POST .../violations: data {type, severity}."),
    (
        scoring.BEHAVIOUR_FLAGGED,
        "warning",
        "A behaviour factor's evidence (docs/behaviour.md): data {factor, check, points, counted, "
        "rule, offsets, questionIds, otherSessionId, measures}.",
    ),
    (scoring.VIOLATION_REVIEWED, "review", "A reviewer confirmed or dismissed a violation."),
    (
        scoring.IP_CHANGED,
        "warning",
        "The candidate connected from another address: data {from, to}.",
    ),
    (scoring.FRAME_ANALYZED, "routine", "The vision verdict on one webcam frame."),
    (scoring.AUDIO_ANALYZED, "routine", "One audio sample: data {anomalous}."),
    (FRAMES_SKIPPED, "routine", "Webcam frames received but not analysed: data {count}."),
    (VISION_EPISODE_ENDED, "info", "A vision episode ended: data {kind, episode}."),
    (ANSWER_GRADED, "answer", "A reviewer graded an answer: data {score, comment, by}."),
    (TRACKING_REPORTED, "info", "PUT .../tracking-data: the QuestionTracking fields."),
    (BEHAVIOR_REPORTED, "info", "PUT .../behavioral-profile: the SessionBehavior fields."),
    (SCREEN_RECORDING_UPDATED, "info", "PUT .../screen-recording: the recording's fields."),
    (SESSION_UPDATED, "info", "PUT /candidate-sessions/:id: data {currentQuestionIndex}."),
    # Contract section 9.1: actors/identity.py, app/http/routes/identity.py, actors/camera_watch.py.
    (
        CALIBRATION_CHECKED,
        "info",
        "The system check's calibration frame, as the server saw it: data {passed, faces, ...}.",
    ),
    (IDENTITY_ENROLLED, "info", "The reference face was taken: data {reference}."),
    (IDENTITY_MISMATCH, "warning", "Someone else on camera, once per episode (HIGH)."),
    (IDENTITY_EPISODE_ENDED, "info", "The registered person is back: data {episode}."),
    (CAMERA_OFF, "warning", "No frame while the camera is required, once per episode (HIGH)."),
    (CAMERA_OFF_ENDED, "info", "Frames came again: data {episode}."),
    # Exam control (actors/exam.py, CONTRACT.md section 9.3).
    (
        exam.ACCOMMODATIONS_SET,
        "info",
        "Accommodations agreed: data {extraTimeSeconds, disabledChecks}.",
    ),
    # Issue 23: a reviewer's verdict on the whole session (actors/session_review.py).
    (
        SESSION_REVIEWED,
        "review",
        "A reviewer's verdict on the session: data {decision, status, reviewer, reason, at}.",
    ),
    # Issue 24 (contract section 9.2): actors/audio_episodes.py.
    (AUDIO_ANOMALY, "warning", "Speech or loud noise, once per episode (AUDIO_ANOMALY, MEDIUM)."),
    (AUDIO_EPISODE_ENDED, "info", "An audio episode ended: data {violationOffset, episode}."),
    (AUDIO_UNAVAILABLE, "warning", "The microphone gives no sound: data {state}."),
    (AUDIO_RESTORED, "info", "The microphone gives sound again after audio_unavailable."),
)


def _candidate_entry(cls: type[events.CandidateEvent]) -> EventType:
    if cls not in _CANDIDATE:
        raise LookupError(
            f"candidate event {tag_of(cls)!r} has no entry in actors/event_types.py _CANDIDATE; "
            "add its kind and meaning there"
        )
    kind, meaning = _CANDIDATE[cls]
    return EventType(type=tag_of(cls), madeBy="candidate", kind=kind, meaning=meaning)


_CHANGES_RECORDS: Final = frozenset(
    {
        scoring.VIOLATION_REVIEWED,
        VISION_EPISODE_ENDED,
        ALERT_RAISED,
        IDENTITY_EPISODE_ENDED,
        CAMERA_OFF_ENDED,
        SESSION_REVIEWED,
        AUDIO_EPISODE_ENDED,
    }
)

EVENT_TYPES: Final = (
    *(_candidate_entry(cls) for cls in CANDIDATE_EVENT_CLASSES),
    *(
        EventType(type=t, madeBy="server", kind=k, meaning=m, changesRecords=t in _CHANGES_RECORDS)
        for t, k, m in _SERVER
    ),
)
EVENT_TYPE_BY_NAME: Final = {entry.type: entry for entry in EVENT_TYPES}
