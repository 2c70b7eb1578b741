"""Messages the server sends, as tagged Structs, and their encoder (one, reused)."""

from __future__ import annotations

from typing import Final

import msgspec

from actors.events import StoredEvent
from actors.state import SessionState

ENCODER: Final = msgspec.json.Encoder()


# --- to the candidate ------------------------------------------------------------------------


class Ack(msgspec.Struct, frozen=True, tag_field="type", tag="ack"):
    seq: int


class Error(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type", tag="error"
):
    code: str
    message: str
    seq: int | None = None
    expected: int | None = None
    field: str | None = None


class Warning(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type", tag="warning"
):
    message: str
    reason: str
    # Document 002's ProctorWarning (`type` is the tag): always sent, so no defaults.
    severity: str  # "high" for the last warning before max_warnings
    action: str
    warningsLeft: int | None = None  # before the last one the assessment allows
    timestamp: str | None = None


class Moved(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="moved"):
    """Sent to a candidate socket just before its `moved` close: the base URL of the node that
    hosts the session (as given to `connect({url})`)."""

    url: str


class Pause(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="pause"):
    message: str
    reason: str
    # Document 002: the candidate may end it (`pause_acknowledged`); severity/action as a warning.
    severity: str = "high"
    action: str = "pause"
    timestamp: str | None = None
    acknowledge: bool = True


class Resume(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="resume"):
    message: str = ""


class Terminate(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="terminate"):
    reason: str


class ExamClock(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="clock"):
    """To the candidate on connecting and whenever the end moves: the time left, by the
    server's clock (the SDK's exam-clock.js counts down from it)."""

    serverTime: str
    endsAt: str
    secondsLeft: float
    timeUp: bool
    # The session is paused: the clock stands still until the pause ends (a new `clock` then).
    paused: bool = False


# --- to admins -------------------------------------------------------------------------------


class Snapshot(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="snapshot"):
    channel: str
    sessions: list[SessionState]


class EventMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="event"):
    channel: str
    sessionId: str
    event: StoredEvent
    state: SessionState


class StateMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="state"):
    """A change of SessionState that no stored event carries (a candidate connecting)."""

    channel: str
    sessionId: str
    state: SessionState


class Alert(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="alert"):
    sessionId: str
    assessmentId: str
    severity: str
    message: str
    event: StoredEvent


class NodeStatus(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="node"):
    """A node of the cluster came up, fell silent ("unreachable": its sessions show their last
    known state) or stopped cleanly; sent to every admin socket, and after each subscribe."""

    nodeId: str
    status: str  # "up" | "unreachable" | "stopped"
    url: str
    lastSeen: float  # its last heartbeat, seconds since the epoch


class Unsubscribed(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="unsubscribed"):
    channel: str


class Intervened(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="intervened"):
    sessionId: str
    action: str
    offset: int


def encode(message: msgspec.Struct) -> bytes:
    return ENCODER.encode(message)
