"""The Kafka mirror (CONTRACT.md section 7): every stored event published to the topic, keyed by
session id, in commit order (so in offset order per session), at least once.

The SQLite `events` table is the outbox: the mirror reads it after the id it last published and
remembers that id in a file of its own (`CursorFile`). It runs in a process of its own
(`app/kafka/mirror_process.py`): it shares nothing with the server's event loop, so neither a slow or
absent broker nor the ~20 us aiokafka spends per message ever holds back a candidate, an ack or
a session actor, and it gets a core of its own. When the broker is back, publishing resumes at
the cursor. A crash between a send and the cursor's write republishes a few events: consumers
dedupe by (sessionId, offset).
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from actors.config import ScoringConfig
from actors.events import USER_RECONNECTED, StoredEvent
from actors.lifecycle import ScoreCache, fold, summarize
from actors.scoring import IP_CHANGED, Violation
from actors.state import SessionInfo, SessionSnapshot, SessionState
from app.kafka.summaries import SummaryThrottle
from app.kafka.topics import ensure_topics
from app.settings import KafkaSettings
from app.storage.store import LoggedEvent, SqliteStore

log = logging.getLogger("vigil.mirror")
NODE_HEADER: Final = "nodeId"
# The cursor file is rewritten at most this often (and when draining): losing the newest write
# only republishes what was sent since.
CURSOR_SAVE_SECONDS: Final = 0.5


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
    return connected or event.origin == "candidate" or event.type in (IP_CHANGED, USER_RECONNECTED)


class CursorFile:
    """The id of the last event published, in a small file replaced atomically. Losing the newest
    write (power cut) only republishes a few events."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int:
        try:
            return int(self.path.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0

    def save(self, cursor: int) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(f"{cursor}\n", encoding="ascii")
        os.replace(temporary, self.path)


class MirrorStatus(msgspec.Struct, kw_only=True):
    """What the mirror reports to the server (one JSON line on its stdout)."""

    cursor: int = 0
    published_total: int = 0
    lag_events: int = 0
    lag_seconds: float = 0.0
    connected: bool = False
    errors_total: int = 0
    drained: bool = False


class KafkaMirror:
    def __init__(
        self,
        settings: KafkaSettings,
        node_id: str,
        store: SqliteStore,
        cursor_file: CursorFile,
        scoring: ScoringConfig,
        poll_seconds: float = 0.005,
    ) -> None:
        self._settings = settings
        self._node = node_id
        self._header = [(NODE_HEADER, node_id.encode())]
        self._store = store
        self._cursor_file = cursor_file
        self._states = StateReplay(scoring, store, settings.state_cache_sessions)
        self._summaries = SummaryThrottle(
            node_id, settings.summary_interval_seconds, settings.state_cache_sessions
        )
        self._poll = poll_seconds
        self._stopping = anyio.Event()
        self._drained = anyio.Event()
        self.status = MirrorStatus(cursor=cursor_file.load())
        self._cursor_saved_at = 0.0
        # (when, newest event id then): the oldest unpublished event was committed no later than
        # the first sample whose id is past the cursor. Bounded: samples at or below the cursor
        # are dropped, and one is taken per round.
        self._samples: deque[tuple[float, int]] = deque()

    async def drain(self) -> None:
        """Publish everything stored so far, then return (and stop)."""
        self._stopping.set()
        await self._drained.wait()

    # --- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        delay = 0.2
        while not self._drained.is_set():
            try:
                async with self._producer() as producer:
                    count = len(await producer.partitions_for(self._settings.topic))
                    partitions = Partitions(count, self._settings.state_cache_sessions)
                    self.status.connected, delay = True, 0.2
                    await self._publish_until_drained(producer, partitions)
            except (KafkaError, OSError, TimeoutError) as exc:
                self.status.errors_total += 1
                log.warning(
                    "kafka mirror: %s (%s); %d events wait in SQLite, retrying in %.1f s",
                    type(exc).__name__,
                    exc,
                    self.status.lag_events,
                    delay,
                )
                with anyio.move_on_after(delay):
                    await self._stopping.wait()  # draining with no broker: give up at once
                if self._stopping.is_set() and not self.status.connected:
                    return
                delay = min(delay * 2, 5.0)
            finally:
                self.status.connected = False

    @asynccontextmanager
    async def _producer(self) -> AsyncIterator[AIOKafkaProducer]:
        await ensure_topics(self._settings)
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

    async def _publish_until_drained(
        self, producer: AIOKafkaProducer, partitions: Partitions
    ) -> None:
        limit = self._settings.publish_batch
        interval = self._settings.publish_interval_ms / 1000
        while True:
            started = time.monotonic()
            batch = await self._store.events_after_id(self.status.cursor, limit)
            await self._measure_lag(batch, limit)
            if batch:
                await self._publish(producer, partitions, batch)
                if len(batch) < limit and not self._stopping.is_set():
                    # A round costs ~1 ms whatever its size: let small ones gather events.
                    with anyio.move_on_after(interval - (time.monotonic() - started)):
                        await self._stopping.wait()
                continue
            if self._summaries.pending:
                await self._publish(producer, partitions, [])  # quiet sessions' last states
            if self._stopping.is_set():
                self._cursor_file.save(self.status.cursor)
                self.status.drained = True
                self._drained.set()
                return
            with anyio.move_on_after(self._poll):
                await self._stopping.wait()

    async def _measure_lag(self, batch: list[LoggedEvent], limit: int) -> None:
        """A batch that was not full ends at the newest event; only a full one needs to ask."""
        if len(batch) == limit:
            newest = await self._store.last_event_id()
        else:
            newest = batch[-1].id if batch else self.status.cursor
        now = time.monotonic()
        cursor = self.status.cursor
        samples = self._samples
        if not samples or samples[-1][1] != newest:
            samples.append((now, newest))
        while samples and samples[0][1] <= cursor:
            samples.popleft()
        self.status.lag_events = max(0, newest - cursor)
        self.status.lag_seconds = now - samples[0][0] if samples else 0.0

    async def _publish(
        self, producer: AIOKafkaProducer, partitions: Partitions, batch: list[LoggedEvent]
    ) -> None:
        """One round: the messages grouped into one record batch per partition (aiokafka's
        per-message `send` cost ~40 us in Python), sent in order, all acknowledged or none."""
        encode = msgspec.json.encode
        topic, cluster_topic = self._settings.topic, self._settings.cluster_topic
        open_batches: dict[tuple[str, int], Any] = {}
        sent = []

        async def add(to: tuple[str, int], key: bytes, value: bytes) -> None:
            builder = open_batches.get(to) or producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None, headers=self._header) is None:
                sent.append(await producer.send_batch(builder, to[0], partition=to[1]))
                builder = producer.create_batch()
                builder.append(key=key, value=value, timestamp=None, headers=self._header)
            open_batches[to] = builder

        for logged in batch:
            folded = await self._states.after(logged)
            key = logged.session_id.encode()
            await add(
                (topic, partitions.of(key)), key, encode(message_of(logged, self._node, folded))
            )
            summary = None if folded is None else self._summaries.offer(logged, folded)
            if summary is not None:
                await add((cluster_topic, 0), key, encode(summary))
        for summary in self._summaries.due():
            await add((cluster_topic, 0), summary.sessionId.encode(), encode(summary))
        for (to_topic, partition), builder in open_batches.items():
            sent.append(await producer.send_batch(builder, to_topic, partition=partition))
        # aiokafka retries an unreachable broker for a long while; give up sooner and resend from
        # the cursor after reconnecting (a dead broker is noticed within the request timeout).
        with anyio.fail_after(self._settings.request_timeout_ms / 1000 + 1):
            for delivery in sent:
                await delivery  # raises if the broker did not take it
        if not batch:
            return
        self.status.cursor = batch[-1].id
        self.status.published_total += len(batch)
        if (
            time.monotonic() - self._cursor_saved_at >= CURSOR_SAVE_SECONDS
            or self._stopping.is_set()
        ):
            self._cursor_file.save(self.status.cursor)
            self._cursor_saved_at = time.monotonic()


class Partitions:
    """Kafka's default partitioner (murmur2 of the key), computed once per session: in pure
    Python it cost ~27 us a message."""

    def __init__(self, count: int, max_keys: int) -> None:
        self._count = count
        self._max = max_keys
        self._known: OrderedDict[bytes, int] = OrderedDict()

    def of(self, key: bytes) -> int:
        found = self._known.get(key)
        if found is None:
            found = (murmur2(key) & 0x7FFFFFFF) % self._count
            self._known[key] = found
            if len(self._known) > self._max:
                self._known.popitem(last=False)
        return found
