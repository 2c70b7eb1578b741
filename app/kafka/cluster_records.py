"""The records of the cluster topic (`[kafka] cluster_topic`, one partition, compacted): what
each node tells the others so their dashboards show every session without reading every event.

- `NodeBeat`, keyed `node:<id>`: a node is up (every `heartbeat_seconds`, from the server's own
  loop, so a hung or dead server falls silent), with the address clients reach it at; a last one
  with `stopping` when it shuts down cleanly.
- `SessionSummary`, keyed by session id: a session's newest state. The creator writes one when
  the session is created, before answering the request (`ClusterAnnouncer`); the mirror writes
  one with each event that raises an alert or changes what lists filter on (the event rides
  along), and otherwise at most every `summary_interval_seconds` per session.
"""

from __future__ import annotations

from typing import Final

import msgspec

from actors.events import StoredEvent
from actors.scoring import Violation
from actors.state import SessionState


class NodeBeat(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="node"):
    nodeId: str
    url: str
    at: float  # the sender's wall clock, seconds since the epoch
    stopping: bool = False


class SessionSummary(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind", tag="session"
):
    nodeId: str
    sessionId: str
    assessmentId: str
    offset: int  # the state is as of this event offset (0: just created)
    state: SessionState
    event: StoredEvent | None = None  # an event the overview channels must show
    violations: list[Violation] = []


ClusterRecord = NodeBeat | SessionSummary
CLUSTER_DECODER: Final = msgspec.json.Decoder(ClusterRecord)


def node_key(node_id: str) -> bytes:
    return f"node:{node_id}".encode()
