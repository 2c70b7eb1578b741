"""`AccessGate`: every decision about who may do what, for HTTP and sockets alike. It resolves a
token to an `Access` (admin and reviewer tokens from settings, candidate tokens by their hash,
expired `[auth] candidate_token_grace_seconds` after their session finished) and decides, for
what an endpoint or socket allows, whether to let it in: a refusal is 401 (no valid token, or an
expired one) or 403 (a valid token that may not do this); sockets close with the matching 4401 or
4403."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from starlette.requests import Request

from actors.registry import Registry
from actors.state import FINISHED
from app.access.ratelimit import RequestLimits
from app.access.refused import Refused
from app.access.tokens import (
    HASH_PREFIX,
    Access,
    Allow,
    allows,
    bearer_token,
    hash_token,
    matches_configured,
    same,
    token_id,
)
from app.settings import AuthSettings
from app.storage.store import SqliteStore

Transport = Literal["http", "socket"]

_NEEDS: Final = {
    "admin": "the admin token",
    "reviewer": "an admin or reviewer token",
    "candidate": "the admin token or this session's candidate token",
    "reader": "an admin or reviewer token, or this session's candidate token",
    "own_record": "an admin or reviewer token, or this session's candidate token",
}
# RFC 9110 section 11.6.1: a 401 says how to authenticate; RFC 6750 names the bearer errors.
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="vigil"'}
_INVALID: Final = {"WWW-Authenticate": 'Bearer realm="vigil", error="invalid_token"'}
_WHO: Final = {
    Access.ADMIN: "an admin token",
    Access.REVIEWER: "a reviewer token",
    Access.CANDIDATE: "this session's candidate token",
    Access.OTHER_SESSION: "another session's candidate token",
}
# What a socket's close frame says (at most 123 bytes) when a valid token may not open it.
_SOCKET_FORBIDDEN: Final = {
    "candidate": "this token may not act for this session",
    "reviewer": "admin channels need an admin or reviewer token",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request, as the audit log names them."""

    access: Access
    token_id: str


class AccessGate:
    def __init__(
        self,
        auth: AuthSettings,
        admin_token: str,
        registry: Registry,
        store: SqliteStore,
        limits: RequestLimits,
    ) -> None:
        self._auth = auth
        self._admin_token = admin_token
        self._registry = registry
        self._store = store
        self._limits = limits

    async def require(
        self, request: Request, session_id: str | None = None, allow: Allow = "admin"
    ) -> Access:
        """Who is asking, if `allow` lets them in (and they are within their rate limit); else
        raise `Refused`. The principal is kept on the request for the audit log."""
        token = bearer_token(request.headers.get("authorization"))
        access = await self.resolve(token, session_id)
        if token is not None:
            request.state.principal = Principal(access, token_id(token))
        refused = self.refusal(access, allow, presented=token is not None)
        if refused is not None:
            raise refused
        self._limits.check(access, session_id)
        return access

    def refusal(
        self,
        access: Access,
        allow: Allow,
        transport: Transport = "http",
        presented: bool = True,
    ) -> Refused | None:
        """Why `access` may not do what `allow` lets in, or None: 401 for no valid token or an
        expired one (over HTTP with the challenge: `presented` says whether a token came at
        all), 403 for a token that may not do this."""
        socket = transport == "socket"
        if access is Access.NONE:
            return Refused(
                401,
                "unauthorized",
                "missing or invalid token"
                if socket
                else "send Authorization: Bearer <admin token or this session's candidate token>",
                headers=None if socket else _INVALID if presented else _CHALLENGE,
            )
        if access is Access.EXPIRED and not allows(allow, access):
            return Refused(
                401,
                "token_expired",
                "this candidate token expired with its session"
                if socket
                else "this candidate token expired: its session finished more than "
                f"{self._auth.candidate_token_grace_seconds:g} s ago",
                headers=None if socket else _INVALID,
            )
        if allows(allow, access):
            return None
        who = _WHO.get(access, "this token")
        needs = f"{who} may not do this; it needs {_NEEDS[allow]}"
        return Refused(403, "forbidden", _SOCKET_FORBIDDEN.get(allow, needs) if socket else needs)

    async def resolve(self, token: str | None, session_id: str | None = None) -> Access:
        if not token:
            return Access.NONE
        if matches_configured(token, self._admin_token):
            return Access.ADMIN
        auth = self._auth
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
        owner = await self._store.session_for_token(digest)
        return Access.NONE if owner is None else Access.OTHER_SESSION

    async def _candidate_token(self, session_id: str) -> tuple[str, str | None] | None:
        """The session's candidate token hash, and when, by the server's clock, it was last
        changed if it is finished. `endTime` would not do: it is the candidate's clock. A session
        in memory finished moments ago (or still has its candidate connected): not expired."""
        info = self._registry.live_info(session_id)
        if info is not None:
            return info.tokenHash, None
        record = await self._store.session(session_id)
        if record is None:
            return None
        return record.tokenHash, record.updatedAt if record.status in FINISHED else None

    def _expired(self, finished_at: str | None) -> bool:
        """A candidate token outlives its session by `candidate_token_grace_seconds`, enough to
        read back what was submitted."""
        if finished_at is None:
            return False
        grace = self._auth.candidate_token_grace_seconds
        try:
            ended = datetime.fromisoformat(finished_at)
        except ValueError:
            return False
        return datetime.now(UTC) > ended + timedelta(seconds=grace)
