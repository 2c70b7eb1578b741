"""Several nodes behind one dashboard: what this node knows of the sessions other nodes host.

It reads two topics (docs/architecture.md, "Kafka mirror and cluster view"):
- the cluster topic (cluster_records.py) from its beginning: every node's heartbeats and every
  session's newest state, about one small record a second per session. These feed the overview
  channels (`assessment:<id>`, `sessions`, `alerts`) and snapshots, and tell which node is up.
- the events topic from its end, keeping only the events of the sessions an admin here has
  subscribed to (`session:<id>`), looked up by the record's key before anything is decoded: an
  event nobody here watches costs its share of a fetch and one dict lookup.
Its own node's records it skips: its admins got those from the commit callback.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
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
        self._shown: dict[str, int] = {}  # offset of the newest event shown, per session
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
        return [
            state
            for state in self._states.values()
            if assessment_id is None or state.assessmentId == assessment_id
        ]

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
        return self._states.get(session_id)

    def watch_from(self, state: SessionState) -> None:
        """A subscriber starts from this snapshot: events it already counts are not shown."""
        shown = self._shown.get(state.sessionId, 0)
        self._shown[state.sessionId] = max(shown, state.lastOffset)

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
        A partition resumed is read from `REWIND` records before its end."""
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
        fanout, mine, seen_change = self._fanout, self._node, -1
        reading: set[TopicPartition] = set()
        while True:
            if fanout.channels_changed != seen_change:
                seen_change = fanout.channels_changed
                wanted = {
                    TopicPartition(topic, partition_of(s.encode()))
                    for s in fanout.watched_sessions()
                    if self.host_of(s) is not None
                }
                if fresh := wanted - reading:
                    for partition, end in (await consumer.end_offsets(list(fresh))).items():
                        consumer.seek(partition, max(0, end - REWIND))
                    consumer.resume(*fresh)
                consumer.pause(*(reading - wanted))
                reading = wanted
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            watching = fanout.watching
            for records in batches.values():
                for record in records:
                    key = record.key
                    if key is None or not watching(key.decode()):
                        self.passed_total += 1
                        continue
                    if any(n == NODE_HEADER and v == mine for n, v in record.headers):
                        continue  # ours: our admins saw it when it was committed
                    self._on_event_record(record.value)

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
        """Show one remote event of a watched session: at most once per (session, offset), never
        an older one after a newer one (a resend after a broker failure repeats what was
        shown)."""
        self.received_total += 1
        session_id = message.sessionId
        if message.offset <= self._shown.get(session_id, 0) or message.state is None:
            self.skipped_total += 1
            return
        self._shown[session_id] = message.offset
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
            overview=False,  # the overviews get it from its summary
        )

    def _on_summary(self, summary: SessionSummary) -> None:
        self.summaries_total += 1
        session_id = summary.sessionId
        self.hosts[session_id] = summary.nodeId
        known = self._states.get(session_id)
        newer = known is None or summary.offset >= known.lastOffset
        if newer:
            self._remember(summary.state, summary.offset)
        if summary.event is not None:
            entry = EventEntry(
                session_id=session_id,
                assessment_id=summary.assessmentId,
                event=summary.event,
                state=summary.state,
                violations=summary.violations,
            )
            self._fanout.publish_event(entry, session=False)
        elif newer:
            self._fanout.publish_state(summary.state, session=known is None)

    def _remember(self, state: SessionState, offset: int) -> None:
        known = self._states.get(state.sessionId)
        if known is None or offset >= known.lastOffset:
            self._states[state.sessionId] = state
        self._states.move_to_end(state.sessionId)
        while len(self._states) > self._settings.cluster_sessions:
            forgotten, _ = self._states.popitem(last=False)
            self._shown.pop(forgotten, None)
            self.hosts.pop(forgotten, None)
