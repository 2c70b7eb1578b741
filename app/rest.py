"""The HTTP endpoints of CONTRACT.md sections 1 and 3 that the live session server needs."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from actors.lifecycle import summarize
from actors.records import related_records
from actors.registry import RegistryClosed, SessionFailed, UnknownSession
from actors.reply import ActorStopped, Rejected
from actors.session import SessionView
from actors.state import SessionInfo, SessionSnapshot, Status
from app.auth import Access, bearer_token, hash_token, new_candidate_token
from app.errors import ApiError, invalid_query
from app.http_io import json_response, now_iso, read_json
from app.journal import SessionRow
from app.services import Services
from app.store import SessionRecord

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Phone = Annotated[str, msgspec.Meta(max_length=40)]
MAX_PAGE: Final = 1000
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


class CreateSessionBody(msgspec.Struct, frozen=True, kw_only=True):
    candidateEmail: Email
    candidateName: Name
    assessmentId: Ident
    candidatePhone: Phone | None = None


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    services.metrics.http_requests += 1
    return services


async def require(
    request: Request, services: Services, session_id: str | None = None, candidate_ok: bool = False
) -> Access:
    access = await services.access(bearer_token(request.headers.get("authorization")), session_id)
    if access is Access.NONE:
        raise ApiError(
            401,
            "unauthorized",
            "send Authorization: Bearer <admin token or this session's candidate token>",
        )
    if access is Access.ADMIN or (candidate_ok and access is Access.CANDIDATE):
        return access
    raise ApiError(403, "forbidden", "this token may not access this resource")


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def metrics(request: Request) -> Response:
    services = services_of(request)
    await require(request, services)
    return PlainTextResponse(services.metrics.render(), media_type="text/plain; version=0.0.4")


async def create_session(request: Request) -> Response:
    services = services_of(request)
    await require(request, services)
    body = await read_json(request, CreateSessionBody, services.settings.server.max_body_bytes)
    now = now_iso()
    token = new_candidate_token()
    info = SessionInfo(
        sessionId=str(uuid.uuid4()),
        assessmentId=body.assessmentId,
        candidateName=body.candidateName,
        candidateEmail=body.candidateEmail,
        candidatePhone=body.candidatePhone,
        startTime=now,
        tokenHash=hash_token(token),
    )
    initial = summarize(services.settings.scoring, info, SessionSnapshot(), connected=False)
    row = SessionRow(
        id=info.sessionId,
        assessment_id=info.assessmentId,
        candidate_name=info.candidateName,
        candidate_email=info.candidateEmail,
        candidate_phone=info.candidatePhone,
        token_hash=info.tokenHash,
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        start_time=now,
        status="IN_PROGRESS",
        state=msgspec.json.encode(initial),
        created_at=now,
    )
    await services.journal.create_session(row)
    record = await services.store.session(info.sessionId)
    assert record is not None, "a committed session must be readable"
    return json_response({**session_json(record), "candidateToken": token}, status=201)


class ListQuery(msgspec.Struct, frozen=True, kw_only=True):
    assessmentId: Ident | None = None
    status: Status | None = None
    trustLevel: Literal["HIGH", "MEDIUM", "LOW"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = MAX_PAGE
    cursor: Annotated[str, msgspec.Meta(max_length=64)] | None = None


async def list_sessions(request: Request) -> Response:
    """A JSON list, as the contract says; the next page, if any, is named by the `Link` and
    `X-Next-Cursor` headers (pass it back as `?cursor=`)."""
    services = services_of(request)
    await require(request, services)
    try:
        query = msgspec.convert(dict(request.query_params), ListQuery, strict=False)
    except msgspec.ValidationError as exc:
        raise invalid_query(exc) from None
    records = await services.store.sessions(
        assessment_id=query.assessmentId,
        status=query.status,
        trust_level=query.trustLevel,
        after_key=_cursor_key(query.cursor),
        limit=query.limit + 1,
    )
    page = records[: query.limit]
    response = json_response([session_json(r, services.current_state(r.state)) for r in page])
    if len(records) > query.limit:
        cursor = _cursor_of(page[-1].key)
        params = {**dict(request.query_params), "cursor": cursor}
        response.headers["X-Next-Cursor"] = cursor
        response.headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
    return response


def _cursor_of(key: int) -> str:
    return base64.urlsafe_b64encode(f"k{key}".encode()).decode().rstrip("=")


def _cursor_key(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("k"):
            raise ValueError(text)
        return int(text[1:])
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            422, "invalid_query", "cursor is not one this server gave out", "cursor"
        ) from None


async def get_session(request: Request) -> Response:
    services = services_of(request)
    session_id = request.path_params["session_id"]
    await require(request, services, session_id, candidate_ok=True)
    record = await record_or_404(services, session_id)
    view, records = await records_of(services, session_id)
    return json_response(
        {
            **session_json(record, view.state),
            **records,
            "verification": view.verification,
            "risk": view.risk,
            "state": view.state,
        }
    )


async def delete_session(request: Request) -> Response:
    """Right to erasure: the session and everything stored for it, gone from the files too."""
    services = services_of(request)
    session_id = request.path_params["session_id"]
    await require(request, services, session_id)
    await record_or_404(services, session_id)
    await services.registry.forget(session_id)
    await (
        services.journal.flush()
    )  # what the actor accepted before it stopped, erased with the rest
    await services.journal.erase_session(session_id)
    return Response(status_code=204)


async def calculate_verification_score(request: Request) -> Response:
    services = services_of(request)
    session_id = request.path_params["session_id"]
    await require(request, services, session_id)
    await record_or_404(services, session_id)
    view = await _view(services, session_id)
    return json_response(view.verification)


async def record_or_404(services: Services, session_id: str) -> SessionRecord:
    record = await services.store.session(session_id)
    if record is None:
        raise ApiError(404, "not_found", f"no session with id {session_id!r}")
    return record


async def records_of(services: Services, session_id: str) -> tuple[SessionView, dict[str, Any]]:
    """The live view of a session and document 001's records derived from its committed log."""
    view = await _view(services, session_id)
    events = await services.store.events(session_id)
    return view, related_records(
        services.settings.scoring, session_id, events, view.state.connected
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


async def _view(services: Services, session_id: str) -> SessionView:
    with actor_errors(session_id):
        return await services.registry.view(session_id)


def session_json(record: SessionRecord, state: Any = None) -> dict[str, Any]:
    current = state if state is not None else record.state
    return {
        "id": record.id,
        "candidateEmail": record.candidateEmail,
        "candidateName": record.candidateName,
        "candidatePhone": record.candidatePhone,
        "assessmentId": record.assessmentId,
        "startTime": record.startTime,
        "endTime": current.endTime,
        "status": current.status,
        "ipAddress": record.ipAddress,
        "userAgent": record.userAgent,
        "createdAt": record.createdAt,
        "updatedAt": record.updatedAt,
        "verificationScore": current.verificationScore,
        "trustLevel": current.trustLevel,
        "riskScore": current.riskScore,
        "riskLevel": current.riskLevel,
        "connected": current.connected,
    }


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/candidate-sessions", create_session, methods=["POST"]),
    Route("/candidate-sessions", list_sessions, methods=["GET"]),
    Route("/candidate-sessions/{session_id}", get_session, methods=["GET"]),
    Route("/candidate-sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route(
        "/candidate-sessions/{session_id}/calculate-verification-score",
        calculate_verification_score,
        methods=["POST"],
    ),
]
