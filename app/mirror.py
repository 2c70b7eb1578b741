"""The Kafka mirror (CONTRACT.md section 7): every stored event published to the topic, keyed by
session id, in commit order (so in offset order per session), at least once.

The SQLite `events` table is the outbox: the mirror reads it after the id it last published and
remembers that id durably (`meta`, written through the journal). It shares nothing with the hot
path but a doorbell the commit callback rings, so a slow or absent broker never holds back a
candidate, an ack or a session actor; when the broker is back, publishing resumes at the cursor.
A crash between a send and the cursor's write republishes a few events: consumers dedupe by
(sessionId, offset).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from anyio.abc import TaskStatus

from actors.config import ScoringConfig
from actors.events import StoredEvent
from actors.lifecycle import ScoreCache, fold, summarize
from actors.mailbox import Doorbell
from actors.scoring import IP_CHANGED, Violation
from actors.state import SessionInfo, SessionSnapshot, SessionState
from app.journal import SqliteJournal
from app.settings import KafkaSettings
from app.store import LoggedEvent, SqliteStore

log = logging.getLogger("vigil.mirror")
NODE_HEADER: Final = "nodeId"


class MirrorMessage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The value of each Kafka message: CONTRACT.md section 7's fields, plus `origin`, the
    session's `state` after the event and the `violations` it raised (what other nodes need to
    show the event to their admins)."""

    eventId: str
    sessionId: str
    assessmentId: str
    offset: int
    type: str
    ts: str
    nodeId: str
    origin: str = "candidate"
    seq: int | None = None
    questionId: str | None = None
    data: dict[str, Any] | None = None
    state: SessionState | None = None
    violations: list[Violation] = []


def message_of(logged: LoggedEvent, node_id: str, folded: FoldedEvent | None) -> MirrorMessage:
    event = logged.event
    return MirrorMessage(
        eventId=f"{logged.session_id}:{event.offset}",
        sessionId=logged.session_id,
        assessmentId=logged.assessment_id,
        offset=event.offset,
        type=event.type,
        ts=event.ts,
        nodeId=node_id,
        origin=event.origin,
        seq=event.seq,
        questionId=event.questionId,
        data=event.data,
        state=None if folded is None else folded.state,
        violations=[] if folded is None else folded.violations,
    )


@dataclass(slots=True)
class FoldedEvent:
    state: SessionState
    violations: list[Violation]


@dataclass(slots=True)
class _Replay:
    info: SessionInfo
    record: SessionSnapshot = field(default_factory=SessionSnapshot)
    connected: bool = False
    scores: ScoreCache = field(default_factory=ScoreCache)


class StateReplay:
    """The state of each session after each event, recomputed with the same pure `fold` the
    actors use, so a message carries exactly the state admins on this node saw. Connection is
    read from the log (candidate events connect, `user_disconnected` disconnects)."""

    def __init__(self, config: ScoringConfig, store: SqliteStore, max_sessions: int) -> None:
        self._config = config
        self._store = store
        self._max = max_sessions
        # Bounded LRU; a session pushed out is replayed from storage when it shows up again.
        self._sessions: OrderedDict[str, _Replay] = OrderedDict()

    async def after(self, logged: LoggedEvent) -> FoldedEvent | None:
        event = logged.event
        replay = self._sessions.get(logged.session_id)
        if replay is None or replay.record.offset != event.offset - 1:
            replay = await self._load(logged.session_id, event.offset - 1)
            if replay is None:
                return None  # erased since the event was read
        self._sessions.move_to_end(logged.session_id)
        violations = fold(self._config, replay.record, event)
        replay.connected = _connected_after(replay.connected, event)
        state = summarize(self._config, replay.info, replay.record, replay.connected, replay.scores)
        return FoldedEvent(state, violations)

    async def _load(self, session_id: str, through: int) -> _Replay | None:
        record = await self._store.session(session_id)
        if record is None:
            return None
        replay = _Replay(record.info())
        for event in await self._store.events(session_id):
            if event.offset > through:
                break
            fold(self._config, replay.record, event)
            replay.connected = _connected_after(replay.connected, event)
        self._sessions[session_id] = replay
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return replay


def _connected_after(connected: bool, event: StoredEvent) -> bool:
    if event.type == "user_disconnected":
        return False
    return connected or event.origin == "candidate" or event.type == IP_CHANGED


class KafkaMirror:
    def __init__(
        self,
        settings: KafkaSettings,
        node_id: str,
        store: SqliteStore,
        journal: SqliteJournal,
        scoring: ScoringConfig,
    ) -> None:
        self._settings = settings
        self._node = node_id
        self._header = [(NODE_HEADER, node_id.encode())]
        self._store = store
        self._journal = journal
        self._states = StateReplay(scoring, store, settings.state_cache_sessions)
        self._cursor_key = f"kafka.published_through:{settings.topic}"
        self._bell = Doorbell()
        self._stopping = False
        self.cursor = 0  # the id of the last event published
        self.published_total = 0
        self.errors_total = 0
        self.connected = False
        self.lag_events = 0
        self._behind_since: float | None = None
        self._drained = anyio.Event()

    # --- what the rest of the server sees ------------------------------------------------------

    def notify(self) -> None:
        """Called by the journal's commit callback: there is more to publish."""
        if self._behind_since is None:
            self._behind_since = time.monotonic()
        self._bell.ring()

    @property
    def lag_seconds(self) -> float:
        """How long the oldest unpublished event has waited (0 when caught up)."""
        since = self._behind_since
        return 0.0 if since is None else time.monotonic() - since

    async def drain(self) -> None:
        """At shutdown, after the journal's last flush: publish what is left, then stop."""
        self._stopping = True
        self._bell.ring()
        await self._drained.wait()

    # --- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.cursor = int(await self._store.meta(self._cursor_key) or 0)
        task_status.started()
        delay = 0.2
        while not self._drained.is_set():
            try:
                async with self._producer() as producer:
                    self.connected, delay = True, 0.2
                    await self._publish_until_stopped(producer)
            except (KafkaError, OSError) as exc:
                self.errors_total += 1
                log.warning(
                    "kafka mirror: %s (%s); %d events wait in SQLite, retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    self.lag_events,
                    delay,
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                self.connected = False

    @asynccontextmanager
    async def _producer(self) -> AsyncIterator[AIOKafkaProducer]:
        await self._ensure_topic()
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=f"vigil-{self._node}",
            acks="all",
            linger_ms=self._settings.linger_ms,
            request_timeout_ms=self._settings.request_timeout_ms,
            enable_idempotence=self._settings.enable_idempotence,
        )
        await producer.start()
        try:
            yield producer
        finally:
            # A dead broker can keep stop() waiting for in-flight batches; they are resent anyway.
            with anyio.move_on_after(2, shield=True):
                await producer.stop()

    async def _ensure_topic(self) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._settings.bootstrap_servers,
            request_timeout_ms=self._settings.request_timeout_ms,
        )
        await admin.start()
        try:
            topic = NewTopic(
                self._settings.topic,
                num_partitions=self._settings.partitions,
                replication_factor=self._settings.replication_factor,
            )
            await admin.create_topics([topic])
        except TopicAlreadyExistsError:
            pass  # made by another node, or by an earlier run
        finally:
            await admin.close()

    async def _publish_until_stopped(self, producer: AIOKafkaProducer) -> None:
        limit = self._settings.publish_batch
        while True:
            batch = await self._store.events_after_id(self.cursor, limit)
            if not batch:
                self.lag_events = 0
                self._behind_since = None
                if self._stopping:
                    self._drained.set()
                    return
                with anyio.move_on_after(1.0):
                    await self._bell.wait()
                continue
            await self._publish(producer, batch)
            self.lag_events = max(0, await self._store.last_event_id() - self.cursor)

    async def _publish(self, producer: AIOKafkaProducer, batch: list[LoggedEvent]) -> None:
        encode = msgspec.json.encode
        sent = []
        for logged in batch:
            folded = await self._states.after(logged)
            value = encode(message_of(logged, self._node, folded))
            sent.append(
                await producer.send(
                    self._settings.topic,
                    key=logged.session_id.encode(),
                    value=value,
                    headers=self._header,
                )
            )
        for delivery in sent:
            await delivery  # raises if the broker did not take it: resend from the cursor
        self.cursor = batch[-1].id
        self.published_total += len(batch)
        await self._journal.set_meta(self._cursor_key, str(self.cursor))
