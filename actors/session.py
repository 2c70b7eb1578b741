"""The session actor: the one owner of a live session's record. Runs as one task that reads one
bounded mailbox; it never awaits slow I/O, only room in the journal's queue."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, assert_never

import anyio
import msgspec

from actors import (
    audio_episodes,
    behaviour_watch,
    camera_watch,
    exam,
    exam_policy,
    exam_timers,
    identity,
    interventions,
    outbound,
    scoring,
    vision_episodes,
)
from actors.alert_rules import AlertsConfig, due, rule_of
from actors.audio_episodes import AudioRules
from actors.behaviour_watch import BehaviourRules
from actors.completeness import FRAMES_SKIPPED
from actors.config import ScoringConfig, SessionsConfig
from actors.events import (
    INTERVENTION,
    USER_DISCONNECTED,
    USER_RECONNECTED,
    VISION_UNAVAILABLE,
    StoredEvent,
    stored_from_candidate,
)
from actors.identity import IDENTITY_ENROLLED, IdentityRules
from actors.identity_desk import IdentityDesk
from actors.lifecycle import ScoreCache, fold, summarize
from actors.mailbox import Mailbox
from actors.messages import (
    AudioAnalyzedIn,
    CandidateAttached,
    CandidateDetached,
    CandidateEventIn,
    EvictIfIdle,
    FrameAnalyzedIn,
    GetState,
    Intervene,
    Message,
    RecordEvent,
    SetReference,
    Tick,
    VisionUnavailable,
)
from actors.ports import (
    AckTracker,
    BiometricsEntry,
    CandidateLink,
    ClipKeeper,
    CohortChecks,
    EventEntry,
    FrameKeeper,
    IdentityChecks,
    Journal,
    LoadedSession,
    RequestMark,
    SnapshotEntry,
    StateEntry,
    StatePublisher,
    Timers,
)
from actors.protocol_codes import CLOSE_REPLACED, SESSION_FINISHED
from actors.reply import Rejected, Reply
from actors.scoring import FRAME_ANALYZED
from actors.state import FINISHED, SessionInfo, SessionSnapshot, SessionState
from actors.stored_state import StoredStateSchedule
from actors.vision_episodes import EpisodeRules

log = logging.getLogger("vigil.session")

_NO_RULES: Final = AlertsConfig()
_EPISODE_RULES: Final = EpisodeRules()
_IDENTITY_RULES: Final = IdentityRules()
_AUDIO_RULES: Final = AudioRules()
_BEHAVIOUR_RULES: Final = BehaviourRules()


@dataclass(frozen=True, slots=True)
class ActorDeps:
    scoring: ScoringConfig
    sessions: SessionsConfig
    journal: Journal
    publisher: StatePublisher
    now_iso: Callable[[], str]
    alerts: AlertsConfig = _NO_RULES
    episodes: EpisodeRules = _EPISODE_RULES
    frames: FrameKeeper | None = None
    # `[storage] state_interval_seconds`: see actors/stored_state.py.
    state_interval: float = 10.0
    identity: IdentityRules = _IDENTITY_RULES
    identity_checks: IdentityChecks | None = None
    # Exam control: the one timer per session (app/sessions/deadlines.py), the wall clock it
    # runs on (epoch seconds) and `[vision] camera_off_seconds`.
    timers: Timers | None = None
    clock: Callable[[], float] = time.time
    camera: camera_watch.CameraRules | None = None  # None: no camera watch (vision is off)
    # Issue 24: audio episodes (`[audio]`) and where their clips are kept.
    audio: AudioRules = _AUDIO_RULES
    clips: ClipKeeper | None = None
    # Issue 28: the behaviour factors (`[behaviour]` and the operator's lists), and the
    # assessment-level check for collaboration told of each submission.
    behaviour: BehaviourRules = _BEHAVIOUR_RULES
    cohort: CohortChecks | None = None


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    """A consistent copy of a live session, answered to GetState."""

    state: SessionState
    verification: scoring.Verification
    risk: scoring.Risk
    record: SessionSnapshot


class SessionActor:
    def __init__(
        self,
        loaded: LoadedSession,
        deps: ActorDeps,
        publish: Callable[[SessionState], None],
        link: CandidateLink | None = None,
    ) -> None:
        self.info: SessionInfo = loaded.info
        self.deps = deps
        self.record = loaded.snapshot or SessionSnapshot()
        self._scores = ScoreCache()
        self._snapshot_offset = self.record.offset
        self._questions = loaded.policy.questions or {}
        for event in loaded.tail:
            fold(deps.scoring, self.record, event)
            self._observe(event)
        self.acks = AckTracker(self.record.lastSeq)
        self.link: CandidateLink | None = None
        self._publish = publish
        self.last_activity = time.monotonic()
        self.handling: Message | None = None
        self._stored_state = StoredStateSchedule(deps.state_interval)
        self._stopping = False  # handing back: nobody is connected to it any more
        self.identity = IdentityDesk(deps.identity, loaded.biometrics)
        self.policy = loaded.policy
        self.alerts = exam_policy.alerts_for(deps.alerts, loaded.policy.proctoring)
        self._wake: float | None = None
        self._exam_init()
        if link is not None:
            self._attach(link)
        self._publish(self.summary())

    def summary(self) -> SessionState:
        connected = self.link is not None and not self._stopping
        return summarize(self.deps.scoring, self.info, self.record, connected, self._scores)

    async def run(self, mailbox: Mailbox[Message], may_stop: Callable[[], bool]) -> None:
        """Handle messages until evicted (returns) or a handler raises (the supervisor restarts)."""
        while True:
            try:
                message = await mailbox.get()
            except anyio.EndOfStream:
                return
            if isinstance(message, EvictIfIdle):
                if self._idle_enough(message) and may_stop():
                    return
                continue
            self.last_activity = time.monotonic()
            self.handling = message
            await self._dispatch(message)
            await self._after_message()
            self.handling = None

    async def _dispatch(self, message: Message) -> None:
        match message:
            case CandidateEventIn():
                await self._on_candidate_event(message)
            case CandidateAttached(link=link):
                await self._on_attached(link)
            case CandidateDetached(link=link, code=code):
                await self._on_detached(link, code)
            case Intervene():
                await self._on_intervene(message)
            case RecordEvent():
                await self._on_record_event(message)
            case FrameAnalyzedIn():
                await self._on_frame(message)
            case SetReference():
                await self._on_set_reference(message)
            case VisionUnavailable(reason=reason):
                await self._on_vision_unavailable(reason)
            case Tick():
                await self._on_tick()
            case AudioAnalyzedIn():
                await self._on_audio(message)
            case GetState(reply=reply):
                reply.set(self._view())
            case EvictIfIdle():
                pass
            case _:
                assert_never(message)

    # --- candidate events ----------------------------------------------------------------------

    async def _on_candidate_event(self, message: CandidateEventIn) -> None:
        event, link = message.event, message.link
        last = self.record.lastSeq
        if event.seq <= last:
            # Already stored: ack again, but only what is committed; the commit acks the rest.
            if self.acks.committed_seq >= event.seq:
                link.ack(self.acks.committed_seq)
            return
        if event.seq > last + 1:
            link.refuse(
                outbound.encode(
                    outbound.Error(
                        code="seq_gap",
                        message=f"seq {event.seq} skips ahead; expected {last + 1}",
                        seq=event.seq,
                        expected=last + 1,
                    )
                )
            )
            return
        stored = stored_from_candidate(
            event, self.record.offset + 1, link.remote_address, link.forwarding
        )
        if self.record.exam.timeUp:
            stored = exam.mark_late(stored)
        paused = self.record.status == "PAUSED"
        if paused and stored.type == exam.PAUSE_ACKNOWLEDGED:
            stored = exam.stamp_resumed(stored, self.deps.now_iso())
        await self._store(stored, acks=self.acks, received=message.received)
        if paused and stored.type == exam.PAUSE_ACKNOWLEDGED:
            link.push(outbound.encode(outbound.Resume(message="You acknowledged the pause.")))

    async def _on_attached(self, link: CandidateLink) -> None:
        self._attach(link)
        stored = False
        if self.record.offline and not self.record.submitted:
            # The end of the offline gap `user_disconnected` began, as the server saw it.
            await self._store(self._server_event(USER_RECONNECTED, {}))
            stored = True
        known = self.record.score.ip_address
        address = link.remote_address
        if not (known is None or address is None or address == known or self.record.submitted):
            await self._store(
                self._server_event(scoring.IP_CHANGED, {"from": known, "to": address})
            )
            stored = True
        if not stored:
            self._announce()

    def _server_event(self, kind: str, data: dict[str, Any], origin: str = "server") -> StoredEvent:
        return StoredEvent(
            type=kind,
            offset=self.record.offset + 1,
            ts=self.deps.now_iso(),
            data=data,
            origin=origin,
        )

    def _attach(self, link: CandidateLink) -> None:
        previous = self.link
        if previous is not None and previous is not link:
            previous.close(CLOSE_REPLACED, "replaced by a newer connection for this session")
        self.link = link
        self.acks.attach(link)
        reminder = interventions.reminder(self.record.status)
        if reminder is not None:
            link.push(reminder)
        camera_watch.connected(self.record.camera, self.deps.clock())
        self._push_clock()

    async def _on_detached(self, link: CandidateLink, code: int) -> None:
        if link is not self.link:
            return  # an older connection, already replaced
        self.link = None
        self.acks.detach()
        camera_watch.disconnected(self.record.camera, self.deps.clock())
        if self.record.submitted:
            self._announce()
            return
        await self._store(self._server_event(USER_DISCONNECTED, {"code": code}))

    def _announce(self) -> None:
        """Publish a state change that no stored event carries to the admins."""
        state = self.summary()
        self._publish(state)
        self.deps.publisher.publish_state(state)

    # --- server-made events --------------------------------------------------------------------

    async def _on_intervene(self, message: Intervene) -> None:
        allowed = interventions.ALLOWED[message.action]
        if self.record.status not in allowed:
            message.reply.fail(
                Rejected(
                    "invalid_intervention",
                    f"cannot {message.action} a session that is {self.record.status}; "
                    f"allowed when {' or '.join(allowed)}",
                )
            )
            return
        data = {"action": message.action, "message": message.message, "by": message.by}
        offset = await self._store(
            self._server_event(INTERVENTION, data, origin="admin"), request=message.request
        )
        self._tell_candidate(message.action, message.message)
        message.reply.set(offset)

    def _tell_candidate(self, action: str, text: str, reason: str = "proctor") -> None:
        """A warned candidate is also told the warnings left before `[alerts] max_warnings`."""
        if self.link is None:
            return
        left = None
        if action == "warn":
            left = max(0, self.alerts.max_warnings - self.record.warningsIssued)
        self.link.push(
            interventions.candidate_message(action, text, reason, left, self.deps.now_iso())
        )

    async def _on_record_event(self, message: RecordEvent) -> None:
        refusal = None
        if message.unless_submitted and self.record.submitted:
            refusal = Rejected("already_submitted", "this assessment was already submitted")
        elif message.unless_submitted and self.record.status in FINISHED:
            refusal = Rejected(
                "session_finished", f"the session is {self.record.status}; it cannot be submitted"
            )
        if refusal is not None:
            if message.reply is not None:
                message.reply.fail(refusal)
            return
        await self._store(
            StoredEvent(
                type=message.type,
                offset=self.record.offset + 1,
                ts=message.ts,
                questionId=message.questionId,
                data=message.data,
                origin=message.origin,
            ),
            committed=message.reply,
            request=message.request,
        )
        if message.type == exam.ACCOMMODATIONS_SET:
            self._push_clock()  # the end may have moved
        elif message.type == FRAMES_SKIPPED:
            await self._camera_frame()  # received, not analysed: the camera is on

    # --- vision --------------------------------------------------------------------------------

    async def _on_frame(self, message: FrameAnalyzedIn) -> None:
        """Store the verdict, then whatever episode it raised or ended (`vision_episodes`), and
        what it showed of who is on camera (`identity`)."""
        if self.record.status in FINISHED:
            return  # the assessment is over; the camera no longer counts
        seen = self.identity.sighting(message.sighting)
        data = (
            message.data if seen.identity is None else {**message.data, "identity": seen.identity}
        )
        frame = await self._store(self._server_event(FRAME_ANALYZED, data, "vision"))
        flagged = False
        await self._camera_frame()
        for found in vision_episodes.due(self.deps.episodes, self.record.vision):
            data = {**found.data, "frameId": str(found.frameOffset)}
            await self._store(self._server_event(found.type, data, "vision"))
            flagged = True
        if seen.save is not None:
            await self._save_biometrics(seen.save)  # queued before the event that relies on it
        if seen.enrolled is not None:
            await self._store(self._server_event(IDENTITY_ENROLLED, seen.enrolled, "vision"))
        flagged = await self._identity_due() or flagged
        if seen.suspect and self.deps.identity_checks is not None:
            self.deps.identity_checks.check_next(self.info.sessionId)
        if self.deps.frames is not None and message.jpeg is not None:
            self.deps.frames.keep(self.info.sessionId, frame, message.jpeg, flagged)

    async def _on_set_reference(self, message: SetReference) -> None:
        if self.record.status in FINISHED:
            message.reply.fail(
                Rejected(SESSION_FINISHED, f"the session is {self.record.status}; it is over")
            )
            return
        data, biometrics = self.identity.photo(message.embedding)
        await self._save_biometrics(biometrics)
        event = self._server_event(IDENTITY_ENROLLED, data, origin="rest")
        await self._store(event, committed=message.reply, request=message.request)
        await self._identity_due()

    async def _identity_due(self) -> bool:
        """Store the mismatch episode the stored frames raised or ended; True if any."""
        stored = False
        for found in identity.due(self.deps.identity, self.record.identity):
            data = {**found.data, "frameId": str(found.frameOffset)}
            await self._store(self._server_event(found.type, data, "vision"))
            stored = True
        return stored

    async def _save_biometrics(self, biometrics: bytes) -> None:
        await self.deps.journal.append(
            BiometricsEntry(session_id=self.info.sessionId, biometrics=biometrics)
        )

    async def _on_vision_unavailable(self, reason: str) -> None:
        if self.record.manualReviewRequired or self.record.status in FINISHED:
            return
        await self._store(self._server_event(VISION_UNAVAILABLE, {"reason": reason}))

    # --- audio (issue 24) -----------------------------------------------------------------------

    async def _on_audio(self, message: AudioAnalyzedIn) -> None:
        """Store the microphone's change of state, the window, then the episode it raised or
        ended (`audio_episodes`); hand the window's sound to the clip keeper."""
        if self.record.status in FINISHED:
            return
        change = audio_episodes.mic_change(self.record.audio, message.mic)
        if change is not None:
            await self._store(self._server_event(change.type, change.data, "audio"))
        if not message.data:
            return
        window = await self._store(
            self._server_event(audio_episodes.AUDIO_ANALYZED, message.data, "audio")
        )
        raised = None
        for found in audio_episodes.due(self.deps.audio, self.record.audio):
            data = found.data
            if found.type == audio_episodes.AUDIO_ANOMALY and self.deps.clips is not None:
                raised = self.record.offset + 1
                data = {**data, "clip": f"{raised}.wav"}
            await self._store(self._server_event(found.type, data, "audio"))
        if self.deps.clips is not None:
            self.deps.clips.keep(self.info.sessionId, window, message.pcm, message.rate, raised)

    # --- storing -------------------------------------------------------------------------------

    async def _store(
        self,
        event: StoredEvent,
        acks: AckTracker | None = None,
        committed: Reply[EventEntry] | None = None,
        request: RequestMark | None = None,
        received: float | None = None,
    ) -> int:
        submitting = event.type == behaviour_watch.SUBMITTED and not self.record.submitted
        was_paused = self.record.status == "PAUSED"
        violations = fold(self.deps.scoring, self.record, event)
        self._observe(event)
        if was_paused != (self.record.status == "PAUSED"):
            self._push_clock()  # the clock stops in a pause and starts again after it
        state = self.summary()
        self._publish(state)
        await self.deps.journal.append(
            EventEntry(
                session_id=self.info.sessionId,
                assessment_id=self.info.assessmentId,
                event=event,
                state=state,
                violations=violations,
                acks=acks,
                store_state=self._stored_state.due(state),
                committed=committed,
                request=request,
                received=received,
            )
        )
        if self.record.offset - self._snapshot_offset >= self.deps.sessions.snapshot_every_events:
            await self._save_snapshot()
        if self.alerts.rules and rule_of(event.data) is None:
            await self._apply_rules(state)
        if submitting:
            await self._behaviour_findings()
        return event.offset

    # --- behaviour evidence (issue 28, actors/behaviour_watch.py) ------------------------------

    def _observe(self, event: StoredEvent) -> None:
        behaviour_watch.observe(self.deps.behaviour, self.record.behaviour, event, self._questions)

    async def _behaviour_findings(self) -> None:
        """At the submission: each factor's finding, then the cohort's turn (collaboration)."""
        for finding in behaviour_watch.due(self.deps.behaviour, self.record.behaviour):
            data = msgspec.to_builtins(finding)
            await self._store(self._server_event(scoring.BEHAVIOUR_FLAGGED, data))
        if self.deps.cohort is not None:
            self.deps.cohort.submitted(self.info.assessmentId, self.info.sessionId)

    # --- alert rules ---------------------------------------------------------------------------

    async def _apply_rules(self, state: SessionState) -> None:
        """Store what each due rule does; the stored event marks it fired (`lifecycle.fold`)."""
        record = self.record
        for rule in due(self.alerts, record.score, state.riskLevel, record.firedRules):
            found = interventions.rule_event(rule, record.status)
            if found is None:
                continue
            kind, data = found
            await self._store(self._server_event(kind, data))
            if kind == INTERVENTION:
                self._tell_candidate(rule.action, data["message"], rule.category)

    async def _save_snapshot(self) -> None:
        self._snapshot_offset = self.record.offset
        await self.deps.journal.append(
            SnapshotEntry(
                session_id=self.info.sessionId,
                offset=self.record.offset,
                snapshot=outbound.ENCODER.encode(self.record),
            )
        )

    # --- leaving memory ------------------------------------------------------------------------

    def _idle_enough(self, message: EvictIfIdle) -> bool:
        if self.link is not None:
            return False
        idle = time.monotonic() - self.last_activity
        if self.record.status in FINISHED:
            return idle >= message.finished_seconds
        return idle >= message.idle_seconds

    async def hand_back(self) -> None:
        """Store the last state, disconnected (see actors/stored_state.py), snapshot what is not
        yet snapshotted, and wait until storage holds all of it."""
        self._stopping = True
        if self.link is not None and not self.record.submitted:
            # Stopped under a connected candidate (shutdown): what a restart would record.
            data = {"code": 1001, "reason": "the server stopped while the candidate was connected"}
            await self._store(self._server_event(USER_DISCONNECTED, data))
        elif self._stored_state.final_due():
            offset, state = self.record.offset, self.summary()
            await self.deps.journal.append(
                StateEntry(session_id=self.info.sessionId, offset=offset, state=state)
            )
        if self.record.offset > self._snapshot_offset:
            await self._save_snapshot()
        await self.deps.journal.flush()

    def _view(self) -> SessionView:
        return SessionView(
            state=self.summary(),
            verification=scoring.verification(self.deps.scoring, self.record.score),
            risk=scoring.risk(self.deps.scoring, self.record.score),
            record=msgspec.convert(msgspec.to_builtins(self.record), SessionSnapshot),
        )

    # --- exam control: the time limit and the camera watch (actors/exam_timers.py) -------------

    def _exam_init(self) -> None:
        watch = self.record.camera
        watch.policy = self.policy.camera
        if watch.connected_at is not None:  # a snapshot taken while connected: not any more
            camera_watch.disconnected(watch, self.deps.clock())

    async def _on_tick(self) -> None:
        self._wake = None  # the scheduler dropped it: ask again, even for the same time
        now = self.deps.clock()
        start = self.info.startTime
        for found in exam_timers.due(self.deps.camera, self.policy, self.record, start, now):
            offset = await self._store(self._server_event(found.type, found.data, found.origin))
            if found.type == camera_watch.CAMERA_OFF:
                camera_watch.raised(self.record.camera, offset)
            elif found.type == exam_timers.SUBMITTED:
                self._push_clock()

    async def _camera_frame(self) -> None:
        for ended in camera_watch.frame(self.record.camera, self.deps.clock()):
            await self._store(self._server_event(ended.type, ended.data, "vision"))

    def _push_clock(self) -> None:
        if self.link is None:
            return
        now = self.deps.clock()
        message = exam_timers.clock_message(self.policy, self.record, self.info.startTime, now)
        if message is not None:
            self.link.push(message)

    async def _after_message(self) -> None:
        """The policy's step at max warnings (actors/exam_policy.py), then the next timer."""
        data = exam_policy.max_warnings_step(self.policy.proctoring, self.alerts, self.record)
        if data is not None:
            await self._store(self._server_event(INTERVENTION, data))
            self._tell_candidate(data["action"], data["message"], "policy")
        self._rearm()

    def _rearm(self) -> None:
        """Tell the scheduler when to wake this session next, if that changed."""
        if self.deps.timers is None:
            return
        when = exam_timers.next_wake(
            self.deps.camera, self.policy, self.record, self.info.startTime
        )
        if when != self._wake:
            self._wake = when
            self.deps.timers.wake_at(self.info.sessionId, when)
