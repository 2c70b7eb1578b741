"""`SessionDirectory`: the states of many sessions as readers (list endpoints, admin snapshots)
should see them: the live state where the session is in memory here, else what is stored, and,
with a cluster, what the other nodes last said of theirs."""

from __future__ import annotations

from actors.registry import Registry
from actors.state import SessionState
from app.kafka.cluster_view import ClusterView
from app.storage.store import SqliteStore


class SessionDirectory:
    def __init__(
        self, store: SqliteStore, registry: Registry, cluster: ClusterView | None = None
    ) -> None:
        self.store = store
        self.registry = registry
        self.cluster = cluster

    async def session_states(self, assessment_id: str | None) -> list[SessionState]:
        """Stored states, replaced by the live ones where the session is in memory.

        Call with no await between this and using the result if it must not miss a live update.
        """
        stored = await self.store.sessions(assessment_id=assessment_id)
        local = [self.current_state(record.state) for record in stored]
        if self.cluster is None:
            return local
        return local + self.cluster.states(assessment_id)

    async def unfinished_states(self) -> list[SessionState]:
        """Every session that is not finished (this node's and, with a cluster, the others'),
        and any in memory here. Call as `session_states` says."""
        found: dict[str, SessionState] = {}
        for status in ("IN_PROGRESS", "PAUSED"):
            for record in await self.store.sessions(status=status):
                found[record.id] = self.current_state(record.state)
        for state in self.registry.live_states():  # newer than what is stored
            found[state.sessionId] = state
        if self.cluster is not None:
            for state in self.cluster.states(None):
                if state.status in ("IN_PROGRESS", "PAUSED"):
                    found.setdefault(state.sessionId, state)
        return list(found.values())

    def current_state(self, stored: SessionState) -> SessionState:
        """The live state where the session is in memory; the stored one says no more than is
        true otherwise (actors/stored_state.py)."""
        live = self.registry.live_state(stored.sessionId)
        return stored if live is None else live
