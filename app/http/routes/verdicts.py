"""A session's verdict and who may read it (CONTRACT.md 9.3, issue 23 items 5 and 8):
`POST /candidate-sessions/:id/review` (a reviewer decides; every decision is a stored
`session_reviewed` event), `GET /session-reviews` (the review queue from storage, riskiest first,
searchable), and the candidate's own record, `GET /candidate-sessions/:id/record` (their token,
or an admin's; `?download=true` makes it a file)."""

from __future__ import annotations

from contextlib import aclosing
from typing import Annotated, Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.events import StoredEvent
from actors.record_types import AntiCheatViolation
from actors.scoring import Verification
from actors.session_review import (
    SESSION_REVIEWED,
    Recommendation,
    ReviewRecord,
    ReviewStatus,
    SessionReview,
    recommendation,
    review_data,
    review_record,
)
from actors.state import Status
from app.access.gate import AccessGate
from app.access.tokens import Access
from app.http.answers import CandidateSession, candidate_session
from app.http.bodies import decode_json, decode_query, json_response, now_iso
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import SessionCalls, replayed_if
from app.sessions.directory import SessionDirectory
from app.storage.store import SessionRecord, SqliteStore

MAX_QUEUE_PAGE: Final = 200
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


class SessionReviewBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    decision: Literal["verify", "reject", "needs_review"]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ReviewedSession(msgspec.Struct, frozen=True, kw_only=True):
    sessionId: str
    review: SessionReview  # the decision just made
    history: list[SessionReview]  # every decision, oldest first, this one last
    recommendation: Recommendation  # the automatic one, from the trust level


class QueueQuery(msgspec.Struct, frozen=True, kw_only=True):
    assessmentId: Ident | None = None
    status: Status | None = None
    verdict: ReviewStatus | Literal["unreviewed"] | None = None
    # Part of the candidate's name or e-mail, any case (those are sealed: matched after reading).
    candidate: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    finished: bool | None = None
    sort: Literal["risk", "created"] = "risk"
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_QUEUE_PAGE)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 0


class QueueVerdict(msgspec.Struct, frozen=True, kw_only=True):
    status: ReviewStatus
    at: str


class QueueItem(msgspec.Struct, frozen=True, kw_only=True):
    session: CandidateSession
    riskScore: float
    riskLevel: str
    recommendation: Recommendation
    review: QueueVerdict | None


class ReviewQueue(msgspec.Struct, frozen=True, kw_only=True):
    items: list[QueueItem]
    nextOffset: int | None  # pass as `offset` for the next page; None: this is the last


class RecordQuery(msgspec.Struct, frozen=True, kw_only=True):
    download: bool = False


class CandidateRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What was recorded about a candidate in one session: everything but the grades."""

    session: CandidateSession
    events: list[StoredEvent]
    violations: list[AntiCheatViolation]
    verification: Verification
    verdict: ReviewRecord
    generatedAt: str


class VerdictRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(
        self,
        gate: AccessGate,
        calls: SessionCalls,
        store: SqliteStore,
        directory: SessionDirectory,
    ) -> None:
        self._gate = gate
        self._calls = calls
        self._store = store
        self._directory = directory

    async def review_session(self, request: Request) -> Response:
        call = await self._calls.admitted(request, allow="reviewer")
        async with call.attempt(200) as attempt:
            body = decode_json(call.raw, SessionReviewBody)
            if attempt.replay is None:
                principal = request.state.principal
                reviewer = f"{principal.access.value}:{principal.token_id}"
                entry = await call.store_event(
                    attempt,
                    type=SESSION_REVIEWED,
                    ts=now_iso(),
                    data=review_data(body.decision, reviewer, body.reason, now_iso()),
                )
                up_to = entry.event.offset
            else:
                up_to = attempt.replay.offset or 0
            events = [e for e in await self._store.events(call.session_id) if e.offset <= up_to]
            view = await call.view()
            verdict = review_record(events, view.state.trustLevel)
            assert verdict.review is not None  # the event just stored, or replayed
            answer = ReviewedSession(
                sessionId=call.session_id,
                review=verdict.review,
                history=verdict.history,
                recommendation=verdict.recommendation,
            )
            return replayed_if(attempt, json_response(answer))

    async def review_queue(self, request: Request) -> Response:
        await self._gate.require(request, allow="reviewer")
        query = decode_query(request, QueueQuery)
        needle = query.candidate.casefold() if query.candidate else None
        items: list[QueueItem] = []
        skipped = 0
        more = False
        rows = self._store.review_queue(
            assessment_id=query.assessmentId,
            status=query.status,
            verdict=query.verdict,
            finished=query.finished,
            by_risk=query.sort == "risk",
        )
        async with aclosing(rows):
            async for record, verdict, at in rows:
                if needle is not None and not _matches(
                    needle, record.candidateName, record.candidateEmail
                ):
                    continue
                if skipped < query.offset:
                    skipped += 1
                    continue
                if len(items) == query.limit:
                    more = True
                    break
                items.append(self._item(record, verdict, at))
        next_offset = query.offset + len(items) if more else None
        return json_response(ReviewQueue(items=items, nextOffset=next_offset))

    def _item(self, record: SessionRecord, verdict: str | None, at: str | None) -> QueueItem:
        state = self._directory.current_state(record.state)
        return QueueItem(
            session=candidate_session(record, state),
            riskScore=state.riskScore,
            riskLevel=state.riskLevel,
            recommendation=recommendation(state.trustLevel),
            review=None if verdict is None or at is None else QueueVerdict(status=verdict, at=at),  # type: ignore[arg-type]
        )

    async def candidate_record(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        access = await self._gate.require(request, session_id, allow="own_record")
        query = decode_query(request, RecordQuery)
        if query.download and access is not Access.ADMIN:
            raise ApiError(403, "forbidden", "download=true is for the admin token", "download")
        record = await self._calls.record_or_404(session_id)
        events = await self._store.events(session_id)
        view, records = await self._calls.records_of(record, graded=False, events=events)
        answer = CandidateRecord(
            session=candidate_session(record, view.state),
            events=events,
            violations=records.violations,
            verification=view.verification,
            verdict=review_record(events, view.state.trustLevel),
            generatedAt=now_iso(),
        )
        response = json_response(answer)
        if query.download:
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in session_id)
            response.headers["Content-Disposition"] = (
                f'attachment; filename="vigil-record-{name}.json"'
            )
        return response


def _matches(needle: str, *fields: str | None) -> bool:
    return any(field is not None and needle in field.casefold() for field in fields)


ENDPOINTS = [
    Endpoint(
        "POST", "/candidate-sessions/{session_id}/review", VerdictRoutes.review_session,
        "Verify, reject or flag a whole session", ReviewedSession, body=SessionReviewBody,
        errors=(400, 404, 409, 413, 422), idempotent_key=True, auth="reviewer",
    ),
    Endpoint(
        "GET", "/session-reviews", VerdictRoutes.review_queue,
        "The review queue: stored sessions with their verdicts, riskiest first", ReviewQueue,
        query=QueueQuery, errors=(422,), auth="reviewer",
    ),
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/record", VerdictRoutes.candidate_record,
        "What was recorded about the candidate (their token); an admin may download it",
        CandidateRecord, query=RecordQuery, errors=(404, 422), auth="own_record",
    ),
]  # fmt: skip
