"""What the domain needs from the outside world; `app/` implements these, tests fake them."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from actors.events import StoredEvent
from actors.exam import ExamPolicy
from actors.reply import Reply
from actors.scoring import Violation
from actors.state import SessionInfo, SessionSnapshot, SessionState


class CandidateLink(Protocol):
    """The candidate's live socket, seen from its session. Every method returns at once."""

    @property
    def remote_address(self) -> str | None:
        """The peer's IP address, if the transport knows it."""

    @property
    def forwarding(self) -> dict[str, Any]:
        """What the connection said about proxies (issue 28, VPN/proxy): `forwardedFor` (the
        addresses of `X-Forwarded-For` and `Forwarded`, client first), `via` (a `Via` header
        came), `proxied` (the peer was one of the server's own proxies, so `remote_address` is
        the client it named); empty when none of them applies."""

    def ack(self, seq: int) -> None:
        """Acknowledge every event with seq <= `seq`; coalesced, never queued."""

    def push(self, message: bytes) -> None:
        """Queue an encoded control message (warning, pause, ...) for the candidate."""

    def refuse(self, message: bytes) -> None:
        """Queue the encoded error answering a refused event (seq_gap, invalid, rate limited).
        A burst of them may be cut short: refusals never count against a reading candidate."""

    def close(self, code: int, reason: str) -> None:
        """Close the socket with `code` once what is queued has been sent."""


class AckTracker:
    """How far a session's candidate events are committed, and where the acks go.

    One writing task per field, both on the event loop's thread, so no lock is needed:
    - `committed_seq` is written only by the journal's writer task, through `committed`, called
      by the commit dispatch (`actors/commit_dispatch.py`) after the commit. Its first value is
      what storage held when the actor was built (replayed: every stored event is committed).
    - `link` is written only by the session's actor task, through `attach` and `detach`; a
      reconnect replaces it there (`SessionActor._attach`), a restarted actor builds a new
      tracker after a flush, so no entry of the old one is still on its way.
    Everyone else only reads them.
    """

    __slots__ = ("_committed_seq", "_link")

    def __init__(self, committed_seq: int) -> None:
        self._committed_seq = committed_seq
        self._link: CandidateLink | None = None

    @property
    def committed_seq(self) -> int:
        return self._committed_seq

    @property
    def link(self) -> CandidateLink | None:
        return self._link

    def committed(self, seq: int) -> None:
        """The commit dispatch: every event up to `seq` is committed; ack it."""
        if seq > self._committed_seq:
            self._committed_seq = seq
            if self._link is not None:
                self._link.ack(seq)

    def attach(self, link: CandidateLink) -> None:
        """The actor: acks go to `link` from now on, starting with what is already committed."""
        self._link = link
        if self._committed_seq:
            link.ack(self._committed_seq)

    def detach(self) -> None:
        """The actor: the candidate left; acks wait for its next connection."""
        self._link = None


class RequestMark(msgspec.Struct, frozen=True, kw_only=True):
    """An API request with an Idempotency-Key, recorded in the same transaction as what it
    changed, so that a retry is recognised even after a crash."""

    scope: str
    key: str
    request: str
    status: int


class EventEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event on its way to the journal, with what follows from it once committed."""

    session_id: str
    assessment_id: str
    event: StoredEvent
    state: SessionState
    violations: list[Violation]
    acks: AckTracker | None = None
    # Storage writes `state` as the session's stored state with this event; the actor decides
    # when (`actors/stored_state.py`). Otherwise it is only for the admins.
    store_state: bool = False
    # Answered with this entry once it is committed (a REST request waits for it, like an ack).
    committed: Reply[EventEntry] | None = None
    request: RequestMark | None = None
    # A candidate event's CandidateEventIn.received, carried to the commit.
    received: float | None = None


class StateEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A session's state to store without an event: its last, when its actor stops."""

    session_id: str
    offset: int
    state: SessionState


class SnapshotEntry(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    offset: int
    snapshot: bytes


class BiometricsEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A session's face embeddings (actors/identity_desk.py's msgpack bytes), to be sealed with
    its data key and kept in place of the last ones. Biometric data: never an event."""

    session_id: str
    biometrics: bytes


class LoadedSession(msgspec.Struct, frozen=True, kw_only=True):
    """A session as storage holds it: identity, newest snapshot, and the events after it."""

    info: SessionInfo
    snapshot: SessionSnapshot | None
    tail: list[StoredEvent]
    biometrics: bytes | None = None  # opened from its seal: see BiometricsEntry
    # The assessment's time limit and camera policy (actors/exam.py); it never changes.
    policy: ExamPolicy = ExamPolicy()


class CohortChecks(Protocol):
    """The assessment-level check that compares a submitted session with the assessment's
    others (collaboration, app/sessions/cohort.py). Returns at once."""

    def submitted(self, assessment_id: str, session_id: str) -> None: ...


class Journal(Protocol):
    """The durable, ordered log. `append` waits only for queue space, never for the commit."""

    async def append(
        self, entry: EventEntry | SnapshotEntry | StateEntry | BiometricsEntry
    ) -> None: ...

    async def flush(self) -> None:
        """Return once everything appended before the call is committed."""


class SessionStore(Protocol):
    async def load(self, session_id: str) -> LoadedSession | None: ...


class StatePublisher(Protocol):
    """Where a session's state goes when it changes without a stored event (connect, fail)."""

    def publish_state(self, state: SessionState) -> None: ...


class IdentityChecks(Protocol):
    """The vision service, told when a session's next frame should be compared with its
    reference at once (a suspected mismatch) rather than on the steady schedule."""

    def check_next(self, session_id: str) -> None: ...


class FrameKeeper(Protocol):
    """Where a session's webcam frames go to be kept (as evidence) or not. Returns at once."""

    def keep(self, session_id: str, frame_offset: int, jpeg: bytes, flagged: bool) -> None:
        """The frame analysed at `frame_offset`; `flagged` when it raised or ended an episode."""


class Timers(Protocol):
    """The one timer of every session (app/sessions/deadlines.py): a `Tick` at `when` (epoch
    seconds), replacing the session's earlier request; None cancels it."""

    def wake_at(self, session_id: str, when: float | None) -> None: ...


class ClipKeeper(Protocol):
    """Where a session's microphone sound goes (issue 24). Returns at once: it keeps the last
    seconds of sound in memory and seals them as a clip when an episode is raised."""

    def keep(
        self, session_id: str, window_offset: int, pcm: bytes | None, rate: int, raised: int | None
    ) -> None:
        """The window analysed at `window_offset`; `raised` is the offset of the `audio_anomaly`
        it raised, under which the clip is kept."""
