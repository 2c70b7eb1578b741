"""`GET /candidate-sessions/:id/events`: a session's stored events as JSON, in offset order and
by pages (`?after=<offset>&limit=`), as the admin socket sends them; for dashboards that load a
session's history and for exports."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.bounds import MAX_INT
from actors.events import StoredEvent
from app.access.gate import AccessGate
from app.http.bodies import decode_query, json_response
from app.http.endpoints import Endpoint
from app.http.session_calls import SessionCalls
from app.storage.store import SqliteStore

MAX_PAGE: Final = 5000


class EventsQuery(msgspec.Struct, frozen=True, kw_only=True):
    after: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = MAX_PAGE


class EventRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(self, gate: AccessGate, calls: SessionCalls, store: SqliteStore) -> None:
        self._gate = gate
        self._calls = calls
        self._store = store

    async def list_events(self, request: Request) -> Response:
        """The next page, if any, starts `?after=` the last offset (also in `X-Next-Cursor`)."""
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="reviewer")
        query = decode_query(request, EventsQuery)
        await self._calls.record_or_404(session_id)
        events = await self._store.events(session_id, query.after, query.limit + 1)
        page = events[: query.limit]
        response = json_response(page)
        if len(events) > query.limit:
            response.headers["X-Next-Cursor"] = str(page[-1].offset)
        return response


ENDPOINTS = [
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/events", EventRoutes.list_events,
        "A session's stored events, in offset order", list[StoredEvent], query=EventsQuery,
        errors=(404, 422), auth="reviewer",
    ),
]  # fmt: skip
