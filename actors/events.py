"""Events: what a candidate may send (a tagged union), and the stored form every event takes.

The candidate socket decodes with `CANDIDATE_EVENT_DECODER`, which knows only the event types of
CONTRACT.md section 4, so a client cannot forge server-made events (interventions, vision).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import msgspec

from actors.behaviour_events import BehaviourWindowData
from actors.bounds import BoundedDecoder, Count, Milliseconds, Seconds

Seq = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
QuestionId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Metadata = dict[str, Any]


_ENCODE: Final = msgspec.json.encode


def iso_ms(moment: datetime) -> str:
    """The one time format Vigil emits: UTC, millisecond precision, `Z` suffix."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # msgspec writes '"2026-01-15T10:25:30.123456Z"', or no fraction when microseconds are 0;
    # slicing that is ~5x cheaper than strftime on this hot path.
    text = _ENCODE(moment)
    if len(text) == 29:
        return text[1:24].decode() + "Z"
    return text[1:20].decode() + ".000Z"


def elapsed_ms(start: str, end: str) -> int:
    """Milliseconds from one stored ISO time to another; 0 when either is unreadable or the
    end comes first (clocks of the candidate's device are not to be trusted)."""
    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return 0
    return max(0, round(delta.total_seconds() * 1000))


# --- the data of the events that carry typed data ------------------------------------------


class AnswerData(msgspec.Struct, frozen=True, kw_only=True):
    response: Any
    timeSpent: Seconds = 0


class FocusLostData(msgspec.Struct, frozen=True, kw_only=True):
    durationMs: Milliseconds


class IdleData(msgspec.Struct, frozen=True, kw_only=True):
    seconds: Seconds


class DeviceInfoData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The DeviceInfo fields of document 001; the browser reports what it can."""

    userAgent: str | None = None
    platform: str | None = None
    language: str | None = None
    timezone: str | None = None
    screenResolution: str | None = None
    windowSize: str | None = None
    colorDepth: Count | None = None
    pixelRatio: float | None = None
    touchSupport: bool | None = None
    deviceMemory: float | None = None
    hardwareConcurrency: Count | None = None
    connection: str | None = None
    deviceFingerprint: str | None = None


Permission = Literal["granted", "denied", "unavailable"]


class PermissionData(msgspec.Struct, frozen=True, kw_only=True):
    """The system check's answer from the browser: may the page use the camera and microphone."""

    camera: Permission
    microphone: Permission


class ConsentData(msgspec.Struct, frozen=True, kw_only=True):
    """The candidate's answer to the consent text (`[candidate] consent_text`), and which text."""

    accepted: bool
    textSha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class CameraLostData(msgspec.Struct, frozen=True, kw_only=True):
    """Why the webcam stopped sending: refused, its track ended, or no camera at all."""

    reason: Literal["denied", "ended", "unavailable"]
    detail: Annotated[str, msgspec.Meta(max_length=200)] | None = None


# --- the candidate's events ------------------------------------------------------------------


class CandidateEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    seq: Seq
    ts: AwareDatetime
    questionId: QuestionId | None = None
    data: Metadata | None = None


class AssessmentStarted(CandidateEvent, tag="assessment_started", frozen=True, kw_only=True):
    pass


class QuestionViewed(CandidateEvent, tag="question_viewed", frozen=True, kw_only=True):
    questionId: QuestionId


class AnswerSubmitted(CandidateEvent, tag="answer_submitted", frozen=True, kw_only=True):
    questionId: QuestionId
    data: AnswerData  # type: ignore[assignment]


class AssessmentSubmitted(CandidateEvent, tag="assessment_submitted", frozen=True, kw_only=True):
    pass


class TabSwitchDetected(CandidateEvent, tag="tab_switch_detected", frozen=True, kw_only=True):
    pass


class CopyAttempt(CandidateEvent, tag="copy_attempt", frozen=True, kw_only=True):
    pass


class PasteAttempt(CandidateEvent, tag="paste_attempt", frozen=True, kw_only=True):
    pass


class InspectElementOpened(CandidateEvent, tag="inspect_element_opened", frozen=True, kw_only=True):
    pass


class FullscreenExit(CandidateEvent, tag="fullscreen_exit", frozen=True, kw_only=True):
    pass


class FocusLost(CandidateEvent, tag="focus_lost", frozen=True, kw_only=True):
    data: FocusLostData  # type: ignore[assignment]


class RightClickAttempt(CandidateEvent, tag="right_click_attempt", frozen=True, kw_only=True):
    pass


class MultipleTabsDetected(CandidateEvent, tag="multiple_tabs_detected", frozen=True, kw_only=True):
    pass


class IdleDetected(CandidateEvent, tag="idle_detected", frozen=True, kw_only=True):
    data: IdleData  # type: ignore[assignment]


class ScreenRecordingStopped(
    CandidateEvent, tag="screen_recording_stopped", frozen=True, kw_only=True
):
    pass


class DeviceInfoReported(CandidateEvent, tag="device_info", frozen=True, kw_only=True):
    data: DeviceInfoData  # type: ignore[assignment]


class Heartbeat(CandidateEvent, tag="heartbeat", frozen=True, kw_only=True):
    pass


class PermissionChecked(CandidateEvent, tag="permission_checked", frozen=True, kw_only=True):
    data: PermissionData  # type: ignore[assignment]


class ConsentGiven(CandidateEvent, tag="consent_given", frozen=True, kw_only=True):
    data: ConsentData  # type: ignore[assignment]


class CameraLost(CandidateEvent, tag="camera_lost", frozen=True, kw_only=True):
    data: CameraLostData  # type: ignore[assignment]


class PauseAcknowledged(CandidateEvent, tag="pause_acknowledged", frozen=True, kw_only=True):
    """The candidate ended a pause (`vigil.acknowledgePause()`, actors/exam.py)."""


class MultipleMonitorsDetected(
    CandidateEvent, tag="multiple_monitors_detected", frozen=True, kw_only=True
):
    """Issue 24: the browser's `screen.isExtended` says the candidate has more than one screen."""


class BehaviourWindow(CandidateEvent, tag="behaviour_window", frozen=True, kw_only=True):
    """Issue 28: how one question's answer was produced in a window of at most 10 s
    (actors/behaviour_events.py); never what was typed."""

    questionId: QuestionId
    data: BehaviourWindowData  # type: ignore[assignment]


AnyCandidateEvent = (
    AssessmentStarted
    | QuestionViewed
    | AnswerSubmitted
    | AssessmentSubmitted
    | TabSwitchDetected
    | CopyAttempt
    | PasteAttempt
    | InspectElementOpened
    | FullscreenExit
    | FocusLost
    | RightClickAttempt
    | MultipleTabsDetected
    | IdleDetected
    | ScreenRecordingStopped
    | DeviceInfoReported
    | Heartbeat
    | PermissionChecked
    | ConsentGiven
    | CameraLost
    | PauseAcknowledged
    | MultipleMonitorsDetected
    | BehaviourWindow
)

CANDIDATE_EVENT_TYPES: Final = frozenset(
    cls.__struct_config__.tag for cls in CandidateEvent.__subclasses__()
)
# Bounded: no NUL, no time off the calendar (actors/bounds.py), for every user of the decoder.
CANDIDATE_EVENT_DECODER: Final = BoundedDecoder[AnyCandidateEvent](AnyCandidateEvent, ("ts",))


class FrameHeader(msgspec.Struct, frozen=True):
    """What can be salvaged from a frame that failed validation, to name its seq in the error."""

    seq: int | None = None


FRAME_HEADER_DECODER: Final = msgspec.json.Decoder(FrameHeader)


# --- server-made event types (CONTRACT.md section 4, plus the project's own) -----------------

USER_DISCONNECTED: Final = "user_disconnected"
# The candidate connected again after a recorded `user_disconnected`: the end of an offline gap.
USER_RECONNECTED: Final = "user_reconnected"
FACE_NOT_DETECTED: Final = "face_not_detected"
MULTIPLE_FACES_DETECTED: Final = "multiple_faces_detected"
OBJECT_DETECTED: Final = "object_detected"
LOOKING_AWAY: Final = "looking_away"
# Vision could not tell (too dark, too bright, blurred, uniform): data {reason, episode}. Scored
# apart from FACE_NOT_DETECTED: not seeing is not evidence.
CAMERA_UNUSABLE: Final = "camera_unusable"
# Frames could not be analysed (document 002's fallback): data {reason}; the session then needs a
# manual review.
VISION_UNAVAILABLE: Final = "vision_unavailable"
INTERVENTION: Final = "intervention"


# gc=False on immutable data Structs that cannot be part of a reference cycle: the cyclic GC then
# never scans them, which keeps its pauses short with thousands of live sessions.
class StoredEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """An event as the journal keeps it and admins receive it, whatever made it.

    `offset` is per session, gapless and 1-based. `origin` says who made it: "candidate",
    "server", "admin", "rest" or "vision".
    """

    type: str
    offset: int
    ts: str
    seq: int | None = None
    questionId: str | None = None
    data: Metadata | None = None
    origin: str = "candidate"


def stored_from_candidate(
    event: AnyCandidateEvent,
    offset: int,
    remote_address: str | None = None,
    forwarding: Metadata | None = None,
) -> StoredEvent:
    """`remote_address`, the socket's peer, is written into a `device_info` as `ipAddress`, and
    what the connection said about proxies (`forwarding`: forwardedFor, via, proxied) beside it:
    the client cannot set them (DeviceInfoData has no such fields), so an IP change and the
    VPN/proxy evidence are the server's word."""
    data = event.data
    if isinstance(event, DeviceInfoReported):
        data = msgspec.to_builtins(event.data)
        if remote_address is not None:
            data["ipAddress"] = remote_address
        data.update(forwarding or {})
    return StoredEvent(
        type=event.__struct_config__.tag,  # type: ignore[arg-type]
        offset=offset,
        ts=iso_ms(event.ts),
        seq=event.seq,
        questionId=event.questionId,
        data=data if data is None or isinstance(data, dict) else msgspec.to_builtins(data),
    )
