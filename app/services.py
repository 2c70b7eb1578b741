"""The services one server process runs, built and wired by `app.server`'s lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from actors.fanout import Fanout
from actors.registry import Registry
from actors.state import SessionState
from app.auth import Access, hash_token, same
from app.cluster import ClusterView
from app.frame_store import FrameStore
from app.idempotency import Idempotency
from app.journal import SqliteJournal
from app.metrics import Metrics
from app.mirror_process import MirrorProcess
from app.ratelimit import RequestLimits
from app.settings import Settings
from app.store import SqliteStore
from app.vision_service import VisionService


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    admin_token: str
    node_id: str
    metrics: Metrics
    journal: SqliteJournal
    store: SqliteStore
    registry: Registry
    fanout: Fanout
    limits: RequestLimits
    idempotency: Idempotency
    mirror: MirrorProcess | None = None
    cluster: ClusterView | None = None
    frames: FrameStore | None = None
    vision: VisionService | None = None

    async def access(self, token: str | None, session_id: str | None = None) -> Access:
        if not token:
            return Access.NONE
        if same(token, self.admin_token):
            return Access.ADMIN
        if not token.startswith("vct_"):
            return Access.NONE
        digest = hash_token(token)
        if session_id is not None:
            expected = await self._token_hash(session_id)
            if expected is not None and same(digest, expected):
                return Access.CANDIDATE
        owner = await self.store.session_for_token(digest)
        return Access.NONE if owner is None else Access.OTHER_SESSION

    async def _token_hash(self, session_id: str) -> str | None:
        state = self.registry.live_info(session_id)
        if state is not None:
            return state.tokenHash
        record = await self.store.session(session_id)
        return None if record is None else record.tokenHash

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
        live = self.registry.live_state(stored.sessionId)
        if live is not None:
            return live
        # Not in memory, so nobody is connected, whatever was true when it was stored.
        return msgspec.structs.replace(stored, connected=False) if stored.connected else stored
