"""Several nodes behind one dashboard: each node consumes the Kafka topic and shows the sessions
that other nodes host to its own admins, as if they were local (snapshot first, then events and
alerts). Its own messages it skips: its admins got those from the commit callback.

The view is built from the topic's beginning at start-up (bounded by the topic's retention) and
kept in memory, newest state per session, at most `kafka.cluster_sessions` of them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Final

import anyio
import msgspec
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from anyio.abc import TaskStatus

from actors.events import StoredEvent
from actors.fanout import Fanout
from actors.ports import EventEntry
from actors.state import SessionState
from app.kafka.mirror import NODE_HEADER, MirrorMessage
from app.settings import KafkaSettings

log = logging.getLogger("vigil.cluster")
_DECODER: Final = msgspec.json.Decoder(MirrorMessage)


class ClusterView:
    def __init__(self, settings: KafkaSettings, node_id: str, fanout: Fanout) -> None:
        self._settings = settings
        self._node = node_id.encode()
        self._fanout = fanout
        # Newest state of each remote session, least recently updated first (bounded LRU).
        self._states: OrderedDict[str, SessionState] = OrderedDict()
        self._offsets: dict[str, int] = {}
        self.hosts: dict[str, str] = {}  # session id -> the node that hosts it
        self.received_total = 0
        self.skipped_total = 0  # duplicates and resends of what was already shown
        self.connected = False

    # --- what admin sockets ask ----------------------------------------------------------------

    def state(self, session_id: str) -> SessionState | None:
        return self._states.get(session_id)

    @property
    def remote_count(self) -> int:
        return len(self._states)

    def states(self, assessment_id: str | None = None) -> list[SessionState]:
        return [
            state
            for state in self._states.values()
            if assessment_id is None or state.assessmentId == assessment_id
        ]

    # --- consuming -----------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # the view fills in the background; start-up never waits for it
        delay = 0.2
        while True:
            consumer = AIOKafkaConsumer(
                self._settings.topic,
                bootstrap_servers=self._settings.bootstrap_servers,
                client_id=f"vigil-view-{self._node.decode()}",
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                request_timeout_ms=self._settings.request_timeout_ms,
                fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
            )
            try:
                await consumer.start()
                self.connected, delay = True, 0.2
                while True:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                    for records in batches.values():
                        for record in records:
                            self._on_record(record.headers, record.value)
            except (KafkaError, OSError) as exc:
                log.warning(
                    "cluster view: %s (%s); retrying in %.1f s", type(exc).__name__, exc, delay
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                self.connected = False
                with anyio.move_on_after(2, shield=True):
                    await consumer.stop()

    def _on_record(self, headers: Iterable[tuple[str, bytes]], value: Any) -> None:
        for name, node in headers:
            if name == NODE_HEADER and node == self._node:
                return  # ours: our admins saw it when it was committed
        try:
            message = _DECODER.decode(value)
        except msgspec.DecodeError as exc:
            log.warning("cluster view: a message that is not Vigil's was skipped (%s)", exc)
            return
        self.receive(message)

    def receive(self, message: MirrorMessage) -> None:
        """Show one remote event: at most once per (session, offset), never an older one after
        a newer one (a resend after a broker failure repeats what was shown)."""
        self.received_total += 1
        session_id = message.sessionId
        if message.offset <= self._offsets.get(session_id, 0) or message.state is None:
            self.skipped_total += 1
            return
        self._offsets[session_id] = message.offset
        self.hosts[session_id] = message.nodeId
        self._remember(message.state)
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
            )
        )

    def _remember(self, state: SessionState) -> None:
        self._states[state.sessionId] = state
        self._states.move_to_end(state.sessionId)
        while len(self._states) > self._settings.cluster_sessions:
            forgotten, _ = self._states.popitem(last=False)
            self._offsets.pop(forgotten, None)
            self.hosts.pop(forgotten, None)
