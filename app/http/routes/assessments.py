"""Assessments: what is asked and what passes (`actors.grading`). Defined once, never changed,
so a session's grade never moves under it; a new version of a test is a new assessment id."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.grading import Assessment, AssessmentDefinition
from app.access.gate import AccessGate
from app.access.idempotency import Idempotency
from app.http.bodies import decode_json, decode_query, json_response, now_iso, read_body
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import replayed_if
from app.storage.journal import SqliteJournal
from app.storage.store import SqliteStore

MAX_PAGE: Final = 1000


class AssessmentQuery(msgspec.Struct, frozen=True, kw_only=True):
    after: Annotated[str, msgspec.Meta(max_length=200)] = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = MAX_PAGE


class AssessmentRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(
        self,
        gate: AccessGate,
        idempotency: Idempotency,
        journal: SqliteJournal,
        store: SqliteStore,
        max_body_bytes: int,
    ) -> None:
        self._gate = gate
        self._idempotency = idempotency
        self._journal = journal
        self._store = store
        self._max_body_bytes = max_body_bytes

    async def create_assessment(self, request: Request) -> Response:
        await self._gate.require(request)
        raw = await read_body(request, self._max_body_bytes)
        async with self._idempotency.attempt(request, raw, 201) as attempt:
            if attempt.replay is None:
                definition = decode_json(raw, AssessmentDefinition)
                assessment = Assessment(**msgspec.structs.asdict(definition), createdAt=now_iso())
                created = await self._journal.create_assessment(
                    assessment.id,
                    msgspec.json.encode(assessment),
                    assessment.createdAt,
                    attempt.mark,
                )
                if not created:
                    raise ApiError(
                        409,
                        "already_exists",
                        f"assessment {assessment.id!r} is already defined and cannot change; "
                        "define a new version under a new id",
                        "id",
                    )
            else:
                found = await self._store.assessment(str(attempt.replay.resourceId))
                assert found is not None, "a recorded request points to a stored assessment"
                assessment = found
            return replayed_if(attempt, json_response(assessment, status=201))

    async def get_assessment(self, request: Request) -> Response:
        await self._gate.require(request, allow="reviewer")
        assessment_id = request.path_params["assessment_id"]
        assessment = await self._store.assessment(assessment_id)
        if assessment is None:
            raise ApiError(404, "not_found", f"no assessment with id {assessment_id!r}")
        return json_response(assessment)

    async def list_assessments(self, request: Request) -> Response:
        """In id order; the next page starts `?after=` the last id (also in `X-Next-Cursor`)."""
        await self._gate.require(request, allow="reviewer")
        query = decode_query(request, AssessmentQuery)
        found = await self._store.assessments(after=query.after, limit=query.limit + 1)
        page = found[: query.limit]
        response = json_response(page)
        if len(found) > query.limit:
            response.headers["X-Next-Cursor"] = page[-1].id
        return response


ENDPOINTS = [
    Endpoint(
        "POST", "/assessments", AssessmentRoutes.create_assessment, "Define an assessment",
        Assessment, status=201, body=AssessmentDefinition, errors=(400, 409, 413, 422),
        idempotent_key=True,
    ),
    Endpoint(
        "GET", "/assessments", AssessmentRoutes.list_assessments, "List assessments",
        list[Assessment], query=AssessmentQuery, errors=(422,), auth="reviewer",
    ),
    Endpoint(
        "GET", "/assessments/{assessment_id}", AssessmentRoutes.get_assessment, "An assessment",
        Assessment, errors=(404,), auth="reviewer",
    ),
]  # fmt: skip
