"""Several nodes behind one dashboard: what this node knows of the sessions other nodes host.

It reads two topics (docs/architecture.md, "Many nodes, one dashboard"):
- the cluster topic (cluster_records.py) from its beginning: every node's heartbeats and every
  session's newest state, about one small record a second per session. These feed snapshots and
  lists, which node hosts what and is up, and the `sessions` and `alerts` channels.
- the events topic, only the partitions holding a session an admin here watches: by its own
  channel (`session:<id>`) or its assessment's (`assessment:<id>`, CONTRACT.md section 5: every
  stored event of every session of it). Other sessions' records in those partitions are dropped
  by key before anything is decoded: an event nobody here watches costs its share of a fetch and
  one set lookup, or nothing while its partition is paused.
Its own node's records it skips: its admins got those from the commit callback.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import anyio
import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from anyio.abc import TaskStatus

from actors.events import StoredEvent
from actors.fanout import Fanout
from actors.ports import EventEntry
from actors.state import SessionState
from app.kafka.cluster_nodes import NodeTable
from app.kafka.cluster_records import CLUSTER_DECODER, NodeBeat, SessionSummary
from app.kafka.mirror import NODE_HEADER, MirrorMessage, Partitions
from app.settings import KafkaSettings

log = logging.getLogger("vigil.cluster")
_DECODER: Final = msgspec.json.Decoder(MirrorMessage)
# A partition resumed for a new subscriber is read from this many records before its end: the
# events since the subscriber's snapshot (a summary, up to `summary_interval_seconds` old) are
# among them, and those the snapshot already counts are skipped by offset. Bounded: a resume
# costs at most this many key lookups.
REWIND: Final = 2000


class ClusterView:
    def __init__(self, settings: KafkaSettings, node_id: str, fanout: Fanout) -> None:
        self._settings = settings
        self.node_id = node_id
        self._node = node_id.encode()
        self._fanout = fanout
        # Newest state of each remote session, least recently updated first (bounded LRU).
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._by_assessment: dict[str, set[str]] = {}  # the remote sessions of each assessment
        self._shown: dict[str, int] = {}  # offset of the newest event shown, per session
        # The watched sessions' state as of the newest event shown: what a new subscriber starts
        # from, since a summary may be ahead of the events read (its events would be skipped).
        self._delivering: dict[str, SessionState] = {}
        self._summarized: dict[str, int] = {}  # offset of the newest summary's event shown
        self._watched: set[bytes] = set()  # keys of the watched remote sessions
        self._appeared = 0  # counts new sessions of watched assessments (the events task polls)
        self.hosts: dict[str, str] = {}  # session id -> the node that hosts it
        self.nodes = NodeTable(node_id, settings.node_timeout_seconds, fanout.publish_to_all)
        self.received_total = 0  # events of watched sessions decoded
        self.passed_total = 0  # events nobody here watches, dropped by key
        self.summaries_total = 0
        self.skipped_total = 0  # duplicates and resends of what was already shown
        self._events_connected = self._cluster_connected = False
        self._consumer: AIOKafkaConsumer | None = None  # of the cluster topic
        self._read_up_to = -1  # the cluster topic's next offset to read
        self._progress = anyio.Event()

    @property
    def connected(self) -> bool:
        return self._events_connected and self._cluster_connected

    # --- what admin sockets ask ----------------------------------------------------------------

    def state(self, session_id: str) -> SessionState | None:
        return self._states.get(session_id)

    @property
    def unreachable_nodes(self) -> int:
        return sum(1 for status in self.nodes.statuses() if status.status == "unreachable")

    @property
    def remote_count(self) -> int:
        return len(self._states)

    def states(self, assessment_id: str | None = None) -> list[SessionState]:
        """What a subscriber starts from: a watched session's state as of its newest event shown
        (the events that follow it are exactly those not yet shown), another's newest summary."""
        delivering = self._delivering
        if assessment_id is None:
            chosen: Iterable[SessionState] = self._states.values()
        else:
            ids = self._by_assessment.get(assessment_id, ())
            chosen = (s for s in map(self._states.get, ids) if s is not None)
        return [delivering.get(s.sessionId, s) for s in chosen]

    async def find(self, session_id: str) -> SessionState | None:
        """The session's state, reading the cluster topic up to its current end first if the
        session is not known yet (created a moment ago elsewhere: the creator's record is on
        the topic before its answer left). None: it exists on no node, or the topic could not be
        read within `subscribe_wait_seconds`."""
        found = self._states.get(session_id)
        consumer = self._consumer
        if found is not None or consumer is None:
            return found
        topic = TopicPartition(self._settings.cluster_topic, 0)
        with anyio.move_on_after(self._settings.subscribe_wait_seconds):
            try:
                end = (await consumer.end_offsets([topic]))[topic]
            except (KafkaError, OSError) as exc:
                log.warning("cluster view: end of the cluster topic unknown (%s)", exc)
                return None
            while self._read_up_to < end and session_id not in self._states:
                await self._progress.wait()
        found = self._states.get(session_id)
        return None if found is None else self._delivering.get(session_id, found)

    def watch_from(self, states: Iterable[SessionState]) -> None:
        """Subscribers start from these snapshots (taken from `states` or `find`, with no await
        since): events they already count are not shown."""
        for state in states:
            session_id = state.sessionId
            if session_id in self._delivering or self.host_of(session_id) is None:
                continue  # already flowing: the snapshot is as of the newest event shown
            self._delivering[session_id] = state
            self._shown[session_id] = max(self._shown.get(session_id, 0), state.lastOffset)

    def host_of(self, session_id: str) -> str | None:
        """The node that hosts the session: known from its records, else named by the id's
        prefix (`<node>-<uuid>`). None: this node, or no node that has been heard of."""
        host = self.hosts.get(session_id) or self.nodes.named_by(session_id)
        return None if host == self.node_id else host

    # --- consuming -----------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # the view fills in the background; start-up never waits for it
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._consume, self._settings.cluster_topic, "earliest", self._on_cluster)
            tg.start_soon(self._consume, self._settings.topic, "latest", self._on_events)
            tg.start_soon(self.nodes.watch)

    async def _consume(
        self, topic: str, start: str, handle: Callable[[AIOKafkaConsumer], Awaitable[None]]
    ) -> None:
        delay = 0.2
        while True:
            consumer = AIOKafkaConsumer(
                *([topic] if start == "earliest" else []),  # the events topic is assigned
                bootstrap_servers=self._settings.bootstrap_servers,
                client_id=f"vigil-view-{self.node_id}-{start}",
                group_id=None,
                auto_offset_reset=start,
                enable_auto_commit=False,
                request_timeout_ms=self._settings.request_timeout_ms,
                fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
            )
            try:
                await consumer.start()
                delay = 0.2
                await handle(consumer)
            except (KafkaError, OSError) as exc:
                log.warning(
                    "cluster view: %s (%s); retrying in %.1f s", type(exc).__name__, exc, delay
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                if topic == self._settings.topic:
                    self._events_connected = False
                else:
                    self._cluster_connected, self._consumer = False, None
                with anyio.move_on_after(2, shield=True):
                    await consumer.stop()

    async def _on_events(self, consumer: AIOKafkaConsumer) -> None:
        """Only the partitions that hold a watched session are fetched; the others stay paused,
        so with nobody watching another node's session here, its events cost this node nothing.
        A partition resumed is read from `REWIND` records before its end; one already read when
        a session in it becomes watched (subscribed to, or just created in a watched assessment)
        is read again from `REWIND` records back, since that session's newest records may have
        been dropped before it was watched. What was shown already is skipped by offset."""
        topic = self._settings.topic
        await consumer.topics()  # metadata: the topic's partitions
        count = len(consumer.partitions_for_topic(topic) or ())
        if count == 0:
            raise KafkaError(f"topic {topic!r} has no partitions yet")
        every = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(every)
        await consumer.seek_to_end(*every)
        consumer.pause(*every)
        self._events_connected = True
        partition_of = Partitions(count, self._settings.cluster_sessions).of
        mine, seen = self._node, (-1, -1)
        self._watched = set()
        reading: set[TopicPartition] = set()
        while True:
            if (self._fanout.channels_changed, self._appeared) != seen:
                seen = (self._fanout.channels_changed, self._appeared)
                watched = self._watched_now()
                wanted = {TopicPartition(topic, partition_of(k)) for k in watched}
                again = {TopicPartition(topic, partition_of(k)) for k in watched - self._watched}
                self._watched = watched
                await self._read_from_rewind(consumer, wanted - reading, again & reading)
                consumer.pause(*(reading - wanted))
                reading = wanted
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            watching = self._watched
            for records in batches.values():
                for record in records:
                    if record.key not in watching:
                        self.passed_total += 1
                        continue
                    if any(n == NODE_HEADER and v == mine for n, v in record.headers):
                        continue  # ours: our admins saw it when it was committed
                    self._on_event_record(record.value)

    def _watched_now(self) -> set[bytes]:
        """The keys of the remote sessions an admin here watches, by their own channel or their
        assessment's; sessions no longer watched stop counting as delivered."""
        fanout = self._fanout
        found = set(fanout.watched_sessions())
        for assessment_id in fanout.watched_assessments():
            found.update(self._by_assessment.get(assessment_id, ()))
        found = {s for s in found if self.host_of(s) is not None}
        for gone in self._delivering.keys() - found:
            del self._delivering[gone]
        return {s.encode() for s in found}

    @staticmethod
    async def _read_from_rewind(
        consumer: AIOKafkaConsumer, fresh: set[TopicPartition], again: set[TopicPartition]
    ) -> None:
        if fresh:
            for partition, end in (await consumer.end_offsets(list(fresh))).items():
                consumer.seek(partition, max(0, end - REWIND))
            consumer.resume(*fresh)
        for partition in again:
            consumer.seek(partition, max(0, await consumer.position(partition) - REWIND))

    async def _on_cluster(self, consumer: AIOKafkaConsumer) -> None:
        self._cluster_connected, self._consumer = True, consumer
        topic = TopicPartition(self._settings.cluster_topic, 0)
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                for record in records:
                    self._on_cluster_record(record.value)
            self._read_up_to = await consumer.position(topic)
            self._progress.set()
            self._progress = anyio.Event()

    def _on_event_record(self, value: Any) -> None:
        try:
            message = _DECODER.decode(value)
        except msgspec.DecodeError as exc:
            log.warning("cluster view: a message that is not Vigil's was skipped (%s)", exc)
            return
        self.receive(message)

    def _on_cluster_record(self, value: Any) -> None:
        try:
            record = CLUSTER_DECODER.decode(value)
        except msgspec.DecodeError as exc:
            log.warning("cluster view: a cluster record that is not Vigil's was skipped (%s)", exc)
            return
        if record.nodeId == self.node_id:
            return
        match record:
            case NodeBeat():
                self.nodes.beat(record)
            case SessionSummary():
                self._on_summary(record)

    def receive(self, message: MirrorMessage) -> None:
        """Show one remote event of a watched session on its own and its assessment's channels:
        at most once per (session, offset), never an older one after a newer one (a partition
        read again, or a resend after a broker failure, repeats what was shown)."""
        self.received_total += 1
        session_id = message.sessionId
        if message.offset <= self._shown.get(session_id, 0) or message.state is None:
            self.skipped_total += 1
            return
        self._shown[session_id] = message.offset
        self._delivering[session_id] = message.state
        self.hosts[session_id] = message.nodeId
        self._remember(message.state, message.offset)
        event = StoredEvent(
            type=message.type,
            offset=message.offset,
            ts=message.ts,
            seq=message.seq,
            questionId=message.questionId,
            data=message.data,
            origin=message.origin,
        )
        self._fanout.publish_event(
            EventEntry(
                session_id=session_id,
                assessment_id=message.assessmentId,
                event=event,
                state=message.state,
                violations=message.violations,
            ),
            everything=False,  # `sessions` and `alerts` get it from its summary
            alerts=False,
        )

    def _on_summary(self, summary: SessionSummary) -> None:
        """A summary feeds `sessions` (its event, or its state) and `alerts`, each summary's
        event once (a resent one is skipped by offset); a session seen for the first time also
        appears on its own and its assessment's channels, and if its assessment is watched its
        events are read from here on."""
        self.summaries_total += 1
        session_id = summary.sessionId
        self.hosts[session_id] = summary.nodeId
        known = self._states.get(session_id)
        newer = known is None or summary.offset >= known.lastOffset
        if newer:
            self._remember(summary.state, summary.offset)
        if known is None:
            self._fanout.publish_state(summary.state, everything=summary.event is None)
            if self._fanout.watching_assessment(summary.assessmentId):
                self.watch_from([summary.state])
                self._appeared += 1
        if summary.event is not None:
            if summary.offset <= self._summarized.get(session_id, 0):
                return
            self._summarized[session_id] = summary.offset
            entry = EventEntry(
                session_id=session_id,
                assessment_id=summary.assessmentId,
                event=summary.event,
                state=summary.state,
                violations=summary.violations,
            )
            self._fanout.publish_event(entry, session=False, assessment=False)
        elif newer:
            self._fanout.publish_state(summary.state, session=False, assessment=False)

    def _remember(self, state: SessionState, offset: int) -> None:
        session_id = state.sessionId
        known = self._states.get(session_id)
        if known is None:
            self._by_assessment.setdefault(state.assessmentId, set()).add(session_id)
        if known is None or offset >= known.lastOffset:
            self._states[session_id] = state
        self._states.move_to_end(session_id)
        while len(self._states) > self._settings.cluster_sessions:
            forgotten, old = self._states.popitem(last=False)
            for table in (self._shown, self._summarized, self._delivering, self.hosts):
                table.pop(forgotten, None)
            same = self._by_assessment.get(old.assessmentId)
            if same is not None:
                same.discard(forgotten)
                if not same:
                    del self._by_assessment[old.assessmentId]
