"""The services one server process runs, built and wired by `app.server`'s lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from actors.fanout import Fanout
from actors.registry import Registry
from actors.state import FINISHED, SessionState
from app.access.idempotency import Idempotency
from app.access.ratelimit import RequestLimits
from app.access.signing import UrlSigner
from app.access.socket_guard import SocketGuard
from app.access.tokens import HASH_PREFIX, Access, hash_token, matches_configured, same
from app.kafka.cluster_view import ClusterView
from app.kafka.mirror_process import MirrorProcess
from app.settings import Settings
from app.storage.frames import FrameStore
from app.storage.journal import SqliteJournal
from app.storage.store import SqliteStore
from app.telemetry.metrics import Metrics
from app.vision.service import VisionService


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
    signer: UrlSigner | None = None
    sockets: SocketGuard = field(default_factory=lambda: SocketGuard([], 0))

    async def access(self, token: str | None, session_id: str | None = None) -> Access:
        if not token:
            return Access.NONE
        if matches_configured(token, self.admin_token):
            return Access.ADMIN
        auth = self.settings.auth
        hashed = HASH_PREFIX + hash_token(token)
        if any(same(hashed, known) for known in auth.admin_token_hashes):
            return Access.ADMIN
        if any(same(hashed, known) for known in auth.reviewer_token_hashes):
            return Access.REVIEWER
        if not token.startswith("vct_"):
            return Access.NONE
        digest = hash_token(token)
        if session_id is not None:
            found = await self._candidate_token(session_id)
            if found is not None and same(digest, found[0]):
                return Access.EXPIRED if self._expired(found[1]) else Access.CANDIDATE
        owner = await self.store.session_for_token(digest)
        return Access.NONE if owner is None else Access.OTHER_SESSION

    async def _candidate_token(self, session_id: str) -> tuple[str, str | None] | None:
        """The session's candidate token hash, and when, by the server's clock, it was last
        changed if it is finished. `endTime` would not do: it is the candidate's clock. A session
        in memory finished moments ago (or still has its candidate connected): not expired."""
        info = self.registry.live_info(session_id)
        if info is not None:
            return info.tokenHash, None
        record = await self.store.session(session_id)
        if record is None:
            return None
        return record.tokenHash, record.updatedAt if record.status in FINISHED else None

    def _expired(self, finished_at: str | None) -> bool:
        """A candidate token outlives its session by `candidate_token_grace_seconds`, enough to
        read back what was submitted."""
        if finished_at is None:
            return False
        grace = self.settings.auth.candidate_token_grace_seconds
        try:
            ended = datetime.fromisoformat(finished_at)
        except ValueError:
            return False
        return datetime.now(UTC) > ended + timedelta(seconds=grace)

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
