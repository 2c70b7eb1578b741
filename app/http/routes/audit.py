"""The audit log (issue 8): every request an admin or reviewer token makes is written to the
append-only `audit` table before its answer leaves, by `AuditMiddleware`; the admin socket adds
its subscriptions and interventions, the retention job its purges. `GET /audit` reads it,
`GET /audit/verify` checks its hash chain (admin token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.bounds import MAX_INT
from app.access.gate import AccessGate, Principal
from app.access.tokens import Access
from app.http.bodies import decode_query, json_response, now_iso
from app.http.endpoints import Endpoint
from app.storage.audit import AuditRecord, AuditRow
from app.storage.store import SqliteStore

# Appends one row to the audit log (the journal's `audit`), on record once it returns.
WriteAudit = Callable[[AuditRow], Awaitable[None]]
_AUDITED: Final = frozenset({Access.ADMIN, Access.REVIEWER})
MAX_PAGE: Final = 1000


def actor_of(principal: Principal) -> str:
    return f"{principal.access.value}:{principal.token_id}"


class AuditMiddleware:
    """Writes one audit row per request made with an admin or reviewer token, once the status is
    known and before the response starts: what was read is on record before it was seen."""

    def __init__(self, app: ASGIApp, audit: WriteAudit) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await _audit(self.audit, scope, int(message["status"]))
            await send(message)

        await self.app(scope, receive, audited_send)


async def _audit(write: WriteAudit, scope: Scope, status: int) -> None:
    principal = scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal) or principal.access not in _AUDITED:
        return
    client = scope.get("client")
    query = scope.get("query_string", b"").decode("latin-1")
    await write(
        AuditRow(
            at=now_iso(),
            actor=actor_of(principal),
            action=f"{scope['method']} {scope['path']}" + (f"?{query}" if query else ""),
            sessionId=scope.get("path_params", {}).get("session_id"),
            status=status,
            address=client[0] if client else None,
        )
    )


async def audit_socket_action(
    write: WriteAudit,
    principal: Principal,
    action: str,
    session_id: str | None,
    address: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An admin socket's read (subscribe) or write (intervene)."""
    await write(
        AuditRow(
            at=now_iso(),
            actor=actor_of(principal),
            action=action,
            sessionId=session_id,
            address=address,
            detail=detail,
        )
    )


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    sessionId: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    actor: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    after: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = MAX_PAGE


class AuditChain(msgspec.Struct, frozen=True, kw_only=True):
    rows: int
    intact: bool
    brokenAt: int | None  # the id of the first row whose hash does not follow


class AuditRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(self, gate: AccessGate, store: SqliteStore) -> None:
        self._gate = gate
        self._store = store

    async def list_audit(self, request: Request) -> Response:
        """In log order; the next page starts `?after=` the last id (also in `X-Next-Cursor`)."""
        await self._gate.require(request)
        query = decode_query(request, AuditQuery)
        rows = await self._store.audit(
            session_id=query.sessionId, actor=query.actor, after=query.after, limit=query.limit + 1
        )
        page = rows[: query.limit]
        response = json_response(page)
        if len(rows) > query.limit:
            response.headers["X-Next-Cursor"] = str(page[-1].id)
        return response

    async def verify_audit(self, request: Request) -> Response:
        await self._gate.require(request)
        rows, broken = await self._store.audit_chain_break()
        return json_response(AuditChain(rows=rows, intact=broken is None, brokenAt=broken))


ENDPOINTS = [
    Endpoint(
        "GET", "/audit", AuditRoutes.list_audit, "Who read or changed session data",
        list[AuditRecord], query=AuditQuery, errors=(422,),
    ),
    Endpoint(
        "GET", "/audit/verify", AuditRoutes.verify_audit, "Check the audit log's hash chain",
        AuditChain,
    ),
]  # fmt: skip
