"""`NodeTable`: the other nodes of the cluster as their heartbeats tell them, and the one task
that notices a node falling silent. Every change of a node's status goes to every admin socket
(`outbound.NodeStatus`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from actors import outbound
from app.kafka.cluster_records import NodeBeat

UP, UNREACHABLE, STOPPED = "up", "unreachable", "stopped"


@dataclass(slots=True)
class _Node:
    url: str
    last_seen: float  # its last beat, by its own clock
    status: str


class NodeTable:
    def __init__(
        self,
        node_id: str,
        timeout: float,
        announce: Callable[[outbound.NodeStatus], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._self = node_id
        self._timeout = timeout
        self._announce = announce
        self._clock = clock
        self._nodes: dict[str, _Node] = {}  # as many as the cluster has ever had: a handful

    def beat(self, beat: NodeBeat) -> None:
        """A heartbeat read from the cluster topic (an old one, read at start-up, may say a node
        is up that has long been silent: `watch` corrects it within a round)."""
        status = STOPPED if beat.stopping else self._judge(beat.at)
        node = self._nodes.get(beat.nodeId)
        if node is None:
            node = self._nodes[beat.nodeId] = _Node(beat.url, beat.at, "")
        node.url, node.last_seen = beat.url, max(node.last_seen, beat.at)
        self._set(beat.nodeId, node, status)

    async def watch(self) -> None:
        while True:
            await anyio.sleep(min(0.25, self._timeout / 4))
            for node_id, node in self._nodes.items():
                if node.status == UP and self._judge(node.last_seen) == UNREACHABLE:
                    self._set(node_id, node, UNREACHABLE)

    def statuses(self) -> list[outbound.NodeStatus]:
        return [self._status(node_id, node) for node_id, node in self._nodes.items()]

    def status(self, node_id: str) -> str | None:
        node = self._nodes.get(node_id)
        return None if node is None else node.status

    def url(self, node_id: str) -> str | None:
        node = self._nodes.get(node_id)
        return None if node is None else node.url

    def named_by(self, session_id: str) -> str | None:
        """The node whose id prefixes the session id (`<node>-<uuid>`), the longest if several."""
        best: str | None = None
        for node_id in (self._self, *self._nodes):
            if session_id.startswith(f"{node_id}-") and (best is None or len(node_id) > len(best)):
                best = node_id
        return best

    def _judge(self, last_seen: float) -> str:
        return UP if self._clock() - last_seen <= self._timeout else UNREACHABLE

    def _set(self, node_id: str, node: _Node, status: str) -> None:
        if node.status != status:
            node.status = status
            self._announce(self._status(node_id, node))

    def _status(self, node_id: str, node: _Node) -> outbound.NodeStatus:
        return outbound.NodeStatus(
            nodeId=node_id, status=node.status, url=node.url, lastSeen=node.last_seen
        )
