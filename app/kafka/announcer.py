"""`ClusterAnnouncer`: what the server itself writes to the cluster topic (cluster_records.py):
its heartbeat, and each session it creates, acknowledged by the broker before the creation is
answered, so a subscription on any node after that answer finds the session."""

from __future__ import annotations

import logging
import time

import anyio
import msgspec
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from anyio.abc import TaskStatus

from actors.state import SessionState
from app.kafka.cluster_records import NodeBeat, SessionSummary, node_key
from app.kafka.topics import ensure_topics
from app.settings import KafkaSettings

log = logging.getLogger("vigil.cluster")


class ClusterAnnouncer:
    def __init__(self, settings: KafkaSettings, node_id: str, url: str) -> None:
        self._settings = settings
        self._node = node_id
        self.url = url
        self._producer: AIOKafkaProducer | None = None
        self._stopped = anyio.Event()
        self.beats_total = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # a broker that is down never holds up the server's start
        delay = 0.2
        while not self._stopped.is_set():
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.bootstrap_servers,
                client_id=f"vigil-announcer-{self._node}",
                acks="all",
                request_timeout_ms=self._settings.request_timeout_ms,
            )
            try:
                await ensure_topics(self._settings)
                await producer.start()
                self._producer, delay = producer, 0.2
                while not self._stopped.is_set():
                    await self._beat(producer, stopping=False)
                    with anyio.move_on_after(self._settings.heartbeat_seconds):
                        await self._stopped.wait()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning(
                    "cluster heartbeat: %s (%s); retrying in %.1f s", type(exc).__name__, exc, delay
                )
                with anyio.move_on_after(delay):
                    await self._stopped.wait()
                delay = min(delay * 2, 5.0)
            finally:
                self._producer = None
                with anyio.move_on_after(2, shield=True):
                    await producer.stop()

    async def stop(self) -> None:
        """The last beat says the node is stopping (dashboards show it stopped, not lost)."""
        producer = self._producer
        self._stopped.set()
        if producer is not None:
            with anyio.move_on_after(2, shield=True):
                try:
                    await self._beat(producer, stopping=True)
                except (KafkaError, OSError, TimeoutError) as exc:
                    log.warning("cluster: the stopping beat was not sent (%s)", exc)

    async def created(self, state: SessionState) -> None:
        """Publish a new session and wait for the broker's ack (bounded by the request timeout:
        with the broker down the session is still created; other nodes learn of it from its
        first summary once the broker is back, and a subscription there waits or is refused)."""
        producer = self._producer
        summary = SessionSummary(
            nodeId=self._node,
            sessionId=state.sessionId,
            assessmentId=state.assessmentId,
            offset=0,
            state=state,
        )
        if producer is None:
            log.warning(
                "cluster: session %s created while the broker is unreachable", state.sessionId
            )
            return
        try:
            with anyio.fail_after(self._settings.request_timeout_ms / 1000):
                await producer.send_and_wait(
                    self._settings.cluster_topic,
                    msgspec.json.encode(summary),
                    key=state.sessionId.encode(),
                    partition=0,
                )
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("cluster: session %s not announced (%s)", state.sessionId, exc)

    async def _beat(self, producer: AIOKafkaProducer, *, stopping: bool) -> None:
        beat = NodeBeat(nodeId=self._node, url=self.url, at=time.time(), stopping=stopping)
        await producer.send_and_wait(
            self._settings.cluster_topic,
            msgspec.json.encode(beat),
            key=node_key(self._node),
            partition=0,
        )
        self.beats_total += 1
