"""How a handler reaches a session: whether it exists, its actor (errors translated to HTTP), its
derived records, and the marking of replayed answers. Who may ask is `AccessGate`'s decision
(app/access/gate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from actors.config import ScoringConfig
from actors.events import StoredEvent
from actors.messages import RecordEvent
from actors.ports import EventEntry
from actors.record_types import SessionRecords
from actors.records import related_records
from actors.registry import Registry, RegistryClosed, SessionFailed, UnknownSession
from actors.reply import ActorStopped, Rejected, Reply
from actors.session import SessionView
from app.access.gate import AccessGate
from app.access.idempotency import REPLAYED_HEADER, Attempt, Idempotency
from app.access.tokens import Access, Allow
from app.http.bodies import read_body
from app.http.errors import ApiError
from app.storage.store import SessionRecord, SqliteStore


class SessionCalls:
    """What the session endpoints share: a session's record or 404, its live view, its derived
    records, events recorded through its actor, and admission of a request to one session."""

    def __init__(
        self,
        gate: AccessGate,
        store: SqliteStore,
        registry: Registry,
        idempotency: Idempotency,
        scoring: ScoringConfig,
        max_body_bytes: int,
    ) -> None:
        self._gate = gate
        self._store = store
        self._registry = registry
        self._idempotency = idempotency
        self._scoring = scoring
        self._max_body_bytes = max_body_bytes

    async def record_or_404(self, session_id: str) -> SessionRecord:
        record = await self._store.session(session_id)
        if record is None:
            raise ApiError(404, "not_found", f"no session with id {session_id!r}")
        return record

    async def records_of(
        self,
        record: SessionRecord,
        graded: bool = True,
        up_to: int | None = None,
        events: list[StoredEvent] | None = None,
    ) -> tuple[SessionView, SessionRecords]:
        """The live view of a session and document 001's records derived from its committed log
        (or from `events`, read already; up to offset `up_to`, if given), graded by its
        assessment if that was defined."""
        view = await self.live_view(record.id)
        if events is None:
            events = await self._store.events(record.id)
        if up_to is not None:
            events = [event for event in events if event.offset <= up_to]
        assessment = await self._store.assessment(record.assessmentId) if graded else None
        records = related_records(
            self._scoring, record.id, events, view.state.connected, assessment
        )
        return view, records

    async def record_event(self, session_id: str, **fields: Any) -> EventEntry:
        """Store a server-made event through the session's actor; return it once committed."""
        reply: Reply[EventEntry] = Reply()
        with actor_errors(session_id):
            return await self._registry.ask(
                session_id, RecordEvent(origin="rest", reply=reply, **fields), reply
            )

    async def ask(self, session_id: str, message: Any, reply: Reply[Any]) -> Any:
        """Send `message` to the session's actor and wait for `reply`, errors as HTTP ones."""
        with actor_errors(session_id):
            return await self._registry.ask(session_id, message, reply)

    async def live_view(self, session_id: str) -> SessionView:
        with actor_errors(session_id):
            return await self._registry.view(session_id)

    async def admitted(self, request: Request, allow: Allow = "candidate") -> SessionCall:
        """Auth and 404 before the body is even read."""
        session_id = request.path_params["session_id"]
        access = await self._gate.require(request, session_id, allow)
        record = await self.record_or_404(session_id)
        raw = await read_body(request, self._max_body_bytes)
        return SessionCall(self, self._idempotency, request, session_id, access, record, raw)


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


def replayed(response: Response) -> Response:
    response.headers[REPLAYED_HEADER] = "true"
    return response


def replayed_if(attempt: Attempt, response: Response) -> Response:
    return replayed(response) if attempt.replay is not None else response


@dataclass(frozen=True, slots=True)
class SessionCall:
    """A request to one session's recording endpoint, admitted and read."""

    calls: SessionCalls
    idempotency: Idempotency
    request: Request
    session_id: str
    access: Access
    record: SessionRecord
    raw: bytes

    def attempt(self, status: int) -> AbstractAsyncContextManager[Attempt]:
        return self.idempotency.attempt(self.request, self.raw, status)

    async def store_event(self, attempt: Attempt, **fields: Any) -> EventEntry:
        return await self.calls.record_event(self.session_id, request=attempt.mark, **fields)

    async def records(
        self, graded: bool = True, up_to: int | None = None, events: list[StoredEvent] | None = None
    ) -> tuple[SessionView, SessionRecords]:
        return await self.calls.records_of(self.record, graded, up_to, events)

    async def view(self) -> SessionView:
        return await self.calls.live_view(self.session_id)
