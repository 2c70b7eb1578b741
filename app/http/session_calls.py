"""How a handler reaches a session: who may ask (auth and rate limits), whether it exists, its
actor (errors translated to HTTP), its derived records, and the marking of replayed answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from actors.events import StoredEvent
from actors.messages import RecordEvent
from actors.ports import EventEntry
from actors.record_types import SessionRecords
from actors.records import related_records
from actors.registry import RegistryClosed, SessionFailed, UnknownSession
from actors.reply import ActorStopped, Rejected, Reply
from actors.session import SessionView
from app.access.idempotency import REPLAYED_HEADER, Attempt
from app.access.tokens import Access, Allow, allows, bearer_token, token_id
from app.http.bodies import read_body
from app.http.errors import ApiError
from app.services import Services
from app.storage.store import SessionRecord


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    services.metrics.http_requests += 1
    return services


async def require(
    request: Request, services: Services, session_id: str | None = None, allow: Allow = "admin"
) -> Access:
    """Who is asking, if `allow` lets them in; else 401 or 403. The principal is kept on the
    request for the audit log."""
    token = bearer_token(request.headers.get("authorization"))
    access = await services.access(token, session_id)
    if token is not None:
        request.state.principal = Principal(access, token_id(token))
    if access is Access.NONE:
        raise ApiError(
            401,
            "unauthorized",
            "send Authorization: Bearer <admin token or this session's candidate token>",
            headers=_CHALLENGE if token is None else _INVALID,
        )
    if access is Access.EXPIRED:
        raise ApiError(
            401,
            "token_expired",
            "this candidate token expired: its session finished more than "
            f"{services.settings.auth.candidate_token_grace_seconds:g} s ago",
            headers=_INVALID,
        )
    if allows(allow, access):
        services.limits.check(access, session_id)
        return access
    raise ApiError(
        403,
        "forbidden",
        f"{_WHO.get(access, 'this token')} may not do this; it needs {_NEEDS[allow]}",
    )


# RFC 9110 section 11.6.1: a 401 says how to authenticate; RFC 6750 names the bearer errors.
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="vigil"'}
_INVALID: Final = {"WWW-Authenticate": 'Bearer realm="vigil", error="invalid_token"'}
_WHO: Final = {
    Access.ADMIN: "an admin token",
    Access.REVIEWER: "a reviewer token",
    Access.CANDIDATE: "this session's candidate token",
    Access.OTHER_SESSION: "a candidate token of another session",
}


_NEEDS: Final = {
    "admin": "the admin token",
    "reviewer": "an admin or reviewer token",
    "candidate": "the admin token or this session's candidate token",
    "reader": "an admin or reviewer token, or this session's candidate token",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request, as the audit log names them."""

    access: Access
    token_id: str


async def record_or_404(services: Services, session_id: str) -> SessionRecord:
    record = await services.store.session(session_id)
    if record is None:
        raise ApiError(404, "not_found", f"no session with id {session_id!r}")
    return record


async def records_of(
    services: Services,
    record: SessionRecord,
    graded: bool = True,
    up_to: int | None = None,
    events: list[StoredEvent] | None = None,
) -> tuple[SessionView, SessionRecords]:
    """The live view of a session and document 001's records derived from its committed log
    (or from `events`, read already; up to offset `up_to`, if given), graded by its assessment
    if that was defined."""
    view = await live_view(services, record.id)
    if events is None:
        events = await services.store.events(record.id)
    if up_to is not None:
        events = [event for event in events if event.offset <= up_to]
    assessment = await services.store.assessment(record.assessmentId) if graded else None
    records = related_records(
        services.settings.scoring, record.id, events, view.state.connected, assessment
    )
    return view, records


async def record_event(services: Services, session_id: str, **fields: Any) -> EventEntry:
    """Store a server-made event through the session's actor; return it once committed."""
    reply: Reply[EventEntry] = Reply()
    with actor_errors(session_id):
        return await services.registry.ask(
            session_id, RecordEvent(origin="rest", reply=reply, **fields), reply
        )


@contextmanager
def actor_errors(session_id: str) -> Iterator[None]:
    """What reaching a session's actor can end with, as HTTP errors."""
    try:
        yield
    except UnknownSession:
        raise ApiError(404, "not_found", f"no session with id {session_id!r}") from None
    except Rejected as exc:
        raise ApiError(409, exc.code, exc.message) from None
    except (SessionFailed, ActorStopped, RegistryClosed) as exc:
        raise ApiError(503, "unavailable", str(exc)) from None


async def live_view(services: Services, session_id: str) -> SessionView:
    with actor_errors(session_id):
        return await services.registry.view(session_id)


def replayed(response: Response) -> Response:
    response.headers[REPLAYED_HEADER] = "true"
    return response


def replayed_if(attempt: Attempt, response: Response) -> Response:
    return replayed(response) if attempt.replay is not None else response


@dataclass(frozen=True, slots=True)
class SessionCall:
    """A request to one session's recording endpoint, admitted and read."""

    request: Request
    services: Services
    session_id: str
    access: Access
    record: SessionRecord
    raw: bytes

    def attempt(self, status: int) -> AbstractAsyncContextManager[Attempt]:
        return self.services.idempotency.attempt(self.request, self.raw, status)

    async def store_event(self, attempt: Attempt, **fields: Any) -> EventEntry:
        return await record_event(self.services, self.session_id, request=attempt.mark, **fields)


async def admitted(request: Request, allow: Allow = "candidate") -> SessionCall:
    """Auth and 404 before the body is even read."""
    services = services_of(request)
    session_id = request.path_params["session_id"]
    access = await require(request, services, session_id, allow)
    record = await record_or_404(services, session_id)
    raw = await read_body(request, services.settings.server.max_body_bytes)
    return SessionCall(request, services, session_id, access, record, raw)
