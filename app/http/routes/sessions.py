"""The session endpoints of CONTRACT.md section 3 (create, list, read, update, erase, verify,
report) and section 1's health and metrics."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Final, Literal
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from actors.config import ScoringConfig
from actors.exam import ACCOMMODATIONS_SET, Accommodations, accommodations_data
from actors.fanout import Fanout
from actors.lifecycle import SESSION_UPDATED, summarize
from actors.messages import Intervene, InterventionAction
from actors.ports import RequestMark
from actors.registry import Registry
from actors.reply import Reply
from actors.scoring import Verification
from actors.session_review import review_record
from actors.state import FINISHED, SessionInfo, SessionSnapshot, SessionState, Status
from app.access.gate import AccessGate
from app.access.idempotency import Idempotency
from app.access.tokens import Access, hash_token, new_candidate_token
from app.http.answers import (
    CandidateSession,
    CreatedSession,
    Health,
    SessionDetail,
    candidate_session,
    created_session,
    session_detail,
)
from app.http.bodies import JSON, decode_json, decode_query, json_response, now_iso, read_body
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import SessionCalls, actor_errors, replayed, replayed_if
from app.sessions.directory import SessionDirectory
from app.storage.journal import SessionRow, SqliteJournal
from app.storage.store import SessionRecord, SqliteStore
from app.telemetry.metrics import Metrics

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# Not \s: Python's and ECMA-262's (the OpenAPI document's) differ; this is both, and controls.
_NOT_IN_EMAIL = r"@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3, max_length=320, pattern=f"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+$"
    ),
]
Phone = Annotated[str, msgspec.Meta(max_length=40)]
MAX_PAGE: Final = 1000
PROMETHEUS: Final = "text/plain; version=0.0.4"
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


class CreateSessionBody(msgspec.Struct, frozen=True, kw_only=True):
    candidateEmail: Email
    candidateName: Name
    assessmentId: Ident
    candidatePhone: Phone | None = None
    # CONTRACT.md section 9.3 (actors/exam.py): extra time, checks that cost nothing.
    accommodations: Accommodations | None = None


class SessionOpener:
    """Creates sessions: for `POST /candidate-sessions` and for the demo."""

    def __init__(
        self,
        scoring: ScoringConfig,
        node_id: str,
        journal: SqliteJournal,
        fanout: Fanout,
        on_created: Callable[[str, str, str], Awaitable[None]] | None = None,
        announce: Callable[[SessionState], Awaitable[None]] | None = None,
    ) -> None:
        self._scoring = scoring
        self._node_id = node_id
        self._journal = journal
        self._fanout = fanout
        # (session id, assessment id, start time): the time limit's scheduler (exam control).
        self._on_created = on_created
        # With a cluster: the new session on the cluster topic before the answer leaves, so a
        # subscription on any node after it finds the session (app/kafka/announcer.py).
        self._announce = announce

    async def open(
        self, request: Request, body: CreateSessionBody, mark: RequestMark | None
    ) -> bytes:
        """Create a session, committed before this returns; its JSON answer, with the candidate
        token that only this answer ever shows."""
        now = now_iso()
        token = new_candidate_token()
        info = SessionInfo(
            sessionId=_new_session_id(self._node_id),
            assessmentId=body.assessmentId,
            candidateName=body.candidateName,
            candidateEmail=body.candidateEmail,
            candidatePhone=body.candidatePhone,
            startTime=now,
            tokenHash=hash_token(token),
        )
        initial = summarize(self._scoring, info, SessionSnapshot(), connected=False)
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
        created = created_session(_created_record(row, initial), token)
        answer = msgspec.json.encode(created)
        await self._journal.create_session(row, mark, answer)
        self._fanout.publish_state(initial)  # a dashboard shows it before its first event
        if self._on_created is not None:
            await self._on_created(info.sessionId, info.assessmentId, now)
        if self._announce is not None:
            await self._announce(initial)
        return answer


class _CreatedId(msgspec.Struct, frozen=True):
    id: str


def _new_session_id(node_id: str) -> str:
    """A session is hosted by the node that created it. With several nodes, its id starts with
    that node's id, so a load balancer can route its requests and socket by a prefix rule."""
    session = str(uuid.uuid4())
    return f"{node_id}-{session}" if node_id else session


def _created_record(row: SessionRow, state: SessionState) -> SessionRecord:
    """The stored row as the store would read it back (it is committed before we answer)."""
    return SessionRecord(
        id=row.id,
        assessmentId=row.assessment_id,
        candidateName=row.candidate_name,
        candidateEmail=row.candidate_email,
        candidatePhone=row.candidate_phone,
        tokenHash=row.token_hash,
        ipAddress=row.ip_address,
        userAgent=row.user_agent,
        startTime=row.start_time,
        endTime=None,
        status=row.status,
        lastOffset=0,
        state=state,
        createdAt=row.created_at,
        updatedAt=row.created_at,
        key=0,
    )


# Exactly the cursors `_cursor_of` makes (base64url of "k" and up to 16 digits, unpadded), so that
# the OpenAPI document says which ones the server takes (tests/test_schemathesis.py).
_DIGITS3 = "(?:M[DTjz]|N[DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]"
_DIGITS1_2 = "(?:M[AQgw]|N[AQgw]|O[AQ]|(?:M[DTjz]|N[DTjz]|O[DT])[AEIMQUYcgk])"
CURSOR: Final = f"^az[AEIMQUYcgk](?:[w-z0-5](?:{_DIGITS3}){{0,4}}{_DIGITS1_2}?)?$"


class ListQuery(msgspec.Struct, frozen=True, kw_only=True):
    assessmentId: Ident | None = None
    status: Status | None = None
    trustLevel: Literal["HIGH", "MEDIUM", "LOW"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = MAX_PAGE
    cursor: Annotated[str, msgspec.Meta(max_length=64, pattern=CURSOR)] | None = None


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


# The statuses a PUT may ask for (FAILED is the server's): the document then says so too.
SettableStatus = Literal["IN_PROGRESS", "PAUSED", "COMPLETED", "TERMINATED"]


class UpdateSessionBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: SettableStatus | None = None
    currentQuestionIndex: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    accommodations: Accommodations | None = None  # the admin's alone; replaces the earlier ones


# A status a PUT asks for -> how the session gets there. COMPLETED is a submission (with no
# answers: use POST .../submit to send them); the rest are a proctor's interventions.
_STATUS_ACTIONS: Final[dict[str, InterventionAction]] = {
    "PAUSED": "pause",
    "IN_PROGRESS": "resume",
    "TERMINATED": "terminate",
}


class SessionRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(
        self,
        gate: AccessGate,
        calls: SessionCalls,
        opener: SessionOpener,
        directory: SessionDirectory,
        store: SqliteStore,
        registry: Registry,
        idempotency: Idempotency,
        metrics: Metrics,
        erase: Callable[[str], Awaitable[None]],
        max_body_bytes: int,
    ) -> None:
        self._gate = gate
        self._calls = calls
        self._opener = opener
        self._directory = directory
        self._store = store
        self._registry = registry
        self._idempotency = idempotency
        self._metrics = metrics
        self._erase = erase
        self._max_body_bytes = max_body_bytes

    async def healthz(self, request: Request) -> Response:
        return json_response(Health("ok"))

    async def metrics(self, request: Request) -> Response:
        await self._gate.require(request)
        return PlainTextResponse(self._metrics.render(), media_type=PROMETHEUS)

    async def create_session(self, request: Request) -> Response:
        await self._gate.require(request)
        raw = await read_body(request, self._max_body_bytes)
        async with self._idempotency.attempt(request, raw, 201) as attempt:
            body = decode_json(raw, CreateSessionBody)
            if attempt.replay is not None and attempt.replay.response is not None:
                answer = attempt.replay.response
                if body.accommodations is not None:
                    await self._accommodate_once(answer, body.accommodations)
                return replayed(Response(answer, 201, media_type=JSON))
            answer = await self._opener.open(request, body, attempt.mark)
            if body.accommodations is not None:
                session_id = msgspec.json.decode(answer, type=_CreatedId).id
                await self._accommodate(session_id, body.accommodations)
            return Response(answer, 201, media_type=JSON)

    async def list_sessions(self, request: Request) -> Response:
        """A JSON list, as the contract says; the next page, if any, is named by the `Link` and
        `X-Next-Cursor` headers (pass it back as `?cursor=`)."""
        await self._gate.require(request, allow="reviewer")
        query = decode_query(request, ListQuery)
        records = await self._store.sessions(
            assessment_id=query.assessmentId,
            status=query.status,
            trust_level=query.trustLevel,
            after_key=_cursor_key(query.cursor),
            limit=query.limit + 1,
        )
        page = records[: query.limit]
        current = self._directory.current_state
        response = json_response([candidate_session(r, current(r.state)) for r in page])
        if len(records) > query.limit:
            cursor = _cursor_of(page[-1].key)
            params = {**dict(request.query_params), "cursor": cursor}
            response.headers["X-Next-Cursor"] = cursor
            response.headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
        return response

    async def get_session(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        access = await self._gate.require(request, session_id, allow="reader")
        record = await self._calls.record_or_404(session_id)
        # A candidate must not learn, mid-exam, which answers score: grades are for the
        # institution.
        events = await self._store.events(session_id)
        view, records = await self._calls.records_of(
            record, graded=access is Access.ADMIN, events=events
        )
        verdict = review_record(events, view.state.trustLevel)
        return json_response(
            session_detail(
                record,
                view.state,
                records,
                view.verification,
                view.risk,
                view.record.identity,
                verdict,
            )
        )

    async def put_session(self, request: Request) -> Response:
        """Document 001's "Update Session". Idempotent: asking for the status the session
        already has, or the question index it already shows, changes nothing."""
        session_id = request.path_params["session_id"]
        access = await self._gate.require(request, session_id, allow="candidate")
        record = await self._calls.record_or_404(session_id)
        raw = await read_body(request, self._max_body_bytes)
        async with self._idempotency.attempt(request, raw, 200) as attempt:
            if attempt.replay is None:
                body = decode_json(raw, UpdateSessionBody)
                if body.status is None and body.currentQuestionIndex is None:
                    if body.accommodations is None:
                        raise ApiError(
                            422,
                            "invalid_body",
                            "send status, currentQuestionIndex, accommodations or several",
                        )
                if body.accommodations is not None and access is not Access.ADMIN:
                    raise ApiError(403, "forbidden", "only the admin token may set accommodations")
                await self._update_session(session_id, access, body, attempt.mark)
            view = await self._calls.live_view(session_id)
            return replayed_if(attempt, json_response(candidate_session(record, view.state)))

    async def _update_session(
        self,
        session_id: str,
        access: Access,
        body: UpdateSessionBody,
        mark: RequestMark | None,
    ) -> None:
        current = (await self._calls.live_view(session_id)).state
        change_status = body.status is not None and body.status != current.status
        if change_status and body.status not in ("COMPLETED", *_STATUS_ACTIONS):
            raise ApiError(
                422,
                "invalid_body",
                f"status {body.status} cannot be set; it is the server's",
                "status",
            )
        if change_status and current.status in FINISHED:
            raise ApiError(
                409,
                "session_finished",
                f"the session is {current.status}; its status can no longer change",
                "status",
            )
        if change_status and body.status != "COMPLETED" and access is not Access.ADMIN:
            raise ApiError(
                403, "forbidden", "only a proctor (the admin token) may pause, resume or terminate"
            )
        if body.accommodations is not None:  # every check passed: nothing changes on refusal
            await self._accommodate(session_id, body.accommodations)
        if body.currentQuestionIndex not in (None, current.currentQuestionIndex):
            await self._calls.record_event(
                session_id,
                type=SESSION_UPDATED,
                ts=now_iso(),
                data={"currentQuestionIndex": body.currentQuestionIndex},
                request=None if change_status else mark,
            )
        if not change_status:
            return
        if body.status == "COMPLETED":
            await self._calls.record_event(
                session_id,
                type="assessment_submitted",
                ts=now_iso(),
                data={"answers": [], "via": "PUT /candidate-sessions/:id"},
                unless_submitted=True,
                request=mark,
            )
            return
        reply: Reply[int] = Reply()
        action = _STATUS_ACTIONS[str(body.status)]
        with actor_errors(session_id):
            await self._registry.ask(
                session_id,
                Intervene(action=action, message="", by="rest", reply=reply, request=mark),
                reply,
            )

    async def _accommodate_once(self, answer: bytes, accommodations: Accommodations) -> None:
        """A retried create: the session was committed with its Idempotency-Key, but the server
        may have stopped before its accommodations were (a second write). The creation's are the
        session's first `accommodations_set`; store them now if there is none."""
        session_id = msgspec.json.decode(answer, type=_CreatedId).id
        events = await self._store.events(session_id)
        if not any(event.type == ACCOMMODATIONS_SET for event in events):
            await self._accommodate(session_id, accommodations)

    async def _accommodate(self, session_id: str, accommodations: Accommodations) -> None:
        """Store the session's accommodations (`accommodations_set`, actors/exam.py)."""
        await self._calls.record_event(
            session_id,
            type=ACCOMMODATIONS_SET,
            ts=now_iso(),
            data=accommodations_data(accommodations),
        )

    async def delete_session(self, request: Request) -> Response:
        """Right to erasure: the session and everything stored for it, gone from the files
        too."""
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id)
        await self._calls.record_or_404(session_id)
        await self._erase(session_id)
        return Response(status_code=204)

    async def calculate_verification_score(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="reviewer")
        await self._calls.record_or_404(session_id)
        view = await self._calls.live_view(session_id)
        return json_response(view.verification)


SESSION = "/candidate-sessions/{session_id}"
ENDPOINTS = [
    Endpoint(
        "GET", "/healthz", SessionRoutes.healthz, "Liveness", Health, auth="none", counted=False,
    ),
    Endpoint(
        "GET", "/metrics", SessionRoutes.metrics, "Prometheus metrics", str,
        media_type=PROMETHEUS,
    ),
    Endpoint(
        "POST", "/candidate-sessions", SessionRoutes.create_session, "Create a session",
        CreatedSession, status=201, body=CreateSessionBody, errors=(400, 413, 422),
        idempotent_key=True,
    ),
    Endpoint(
        "GET", "/candidate-sessions", SessionRoutes.list_sessions, "List sessions",
        list[CandidateSession], query=ListQuery, errors=(422,), auth="reviewer",
    ),
    Endpoint(
        "GET", SESSION, SessionRoutes.get_session, "A session with its records", SessionDetail,
        auth="reader", errors=(404,),
    ),
    Endpoint(
        "PUT", SESSION, SessionRoutes.put_session, "Update a session", CandidateSession,
        body=UpdateSessionBody, body_rule="nonempty", auth="candidate",
        errors=(400, 404, 409, 413, 422), idempotent_key=True,
    ),
    Endpoint(
        "DELETE", SESSION, SessionRoutes.delete_session, "Erase a session for good", None,
        status=204, errors=(404,),
    ),
    Endpoint(
        "POST", f"{SESSION}/calculate-verification-score",
        SessionRoutes.calculate_verification_score, "The verification score now", Verification,
        errors=(404,), auth="reviewer",
    ),
]  # fmt: skip
