"""What a session actor's mailbox carries. Built only inside the process: the candidate socket's
decoder produces `AnyCandidateEvent`, never these, so a client cannot forge an intervention."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from actors.events import AnyCandidateEvent
from actors.identity import Sighting
from actors.ports import CandidateLink, EventEntry, RequestMark
from actors.reply import Reply

InterventionAction = Literal["warn", "pause", "resume", "terminate"]


class CandidateEventIn(msgspec.Struct, frozen=True):
    event: AnyCandidateEvent
    link: CandidateLink
    # time.perf_counter() when the frame was read off the socket: the journal measures from it
    # to the commit that makes the event's ack due (vigil_candidate_event_commit_seconds).
    received: float | None = None


class CandidateAttached(msgspec.Struct, frozen=True):
    link: CandidateLink


class CandidateDetached(msgspec.Struct, frozen=True):
    link: CandidateLink
    code: int


class Intervene(msgspec.Struct, frozen=True, kw_only=True):
    action: InterventionAction
    message: str
    by: str
    reply: Reply[int]
    request: RequestMark | None = None


class RecordEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A server-made event (REST, vision, admin) to store. `reply`, if given, is answered with the
    entry once it is committed, or fails with Rejected when `unless_submitted` and the assessment
    was already submitted."""

    type: str
    origin: str
    ts: str
    data: dict[str, Any] | None = None
    questionId: str | None = None
    reply: Reply[EventEntry] | None = None
    unless_submitted: bool = False
    request: RequestMark | None = None


class FrameAnalyzedIn(msgspec.Struct, frozen=True, kw_only=True):
    """A vision verdict on one webcam frame: `data` becomes the `frame_analyzed` event's data;
    `jpeg` is the frame, kept if it raises or ends an episode."""

    data: dict[str, Any]
    jpeg: bytes | None = None
    # The one usable face's embedding, when the frame was checked for identity (never stored).
    sighting: Sighting | None = None


class SetReference(msgspec.Struct, frozen=True, kw_only=True):
    """PUT .../reference-photo: the embedding of the photo's one face, the session's reference
    from now on. `reply` gets the offset of the `identity_enrolled` once it is committed."""

    embedding: tuple[float, ...]
    reply: Reply[EventEntry]
    request: RequestMark | None = None


class VisionUnavailable(msgspec.Struct, frozen=True, kw_only=True):
    """Frames of this session could not be analysed (the pool is down or has no models)."""

    reason: str


class AudioAnalyzedIn(msgspec.Struct, frozen=True, kw_only=True):
    """The server's verdict on one window of microphone sound (app/audio/): `data` becomes the
    `audio_analyzed` event's data; `pcm` (16-bit mono at `rate`) is kept for a clip if the window
    belongs to an episode; `mic` is the microphone state the browser reported (None: sound)."""

    data: dict[str, Any]
    pcm: bytes | None = None
    rate: int = 8000
    mic: str | None = None


class GetState(msgspec.Struct, frozen=True):
    reply: Reply[Any]


class EvictIfIdle(msgspec.Struct, frozen=True):
    idle_seconds: float
    finished_seconds: float


class Tick(msgspec.Struct, frozen=True):
    """The time the session asked to wake at came (app/sessions/deadlines.py): the actor decides
    from its record and the clock what is due (time limit, camera off); a stale tick is harmless."""


Message = (
    CandidateEventIn
    | CandidateAttached
    | CandidateDetached
    | Intervene
    | RecordEvent
    | FrameAnalyzedIn
    | SetReference
    | VisionUnavailable
    | AudioAnalyzedIn
    | GetState
    | EvictIfIdle
    | Tick
)
