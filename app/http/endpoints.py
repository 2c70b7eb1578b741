"""Every HTTP endpoint declared once, with the types of what it reads and answers: the router and
/openapi.json are both built from these declarations, so the document cannot drift from the
handlers.

A declaration names its handler as a method of its route module's handler class (for example
`SessionRoutes.get_session`); `EndpointBinder.routes` serves it by the one instance the
composition root (app/server.py) built with that class's collaborators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.telemetry.metrics import Metrics

H = TypeVar("H")
Handler = Callable[[Request], Awaitable[Response]]
# Who may call: "none" (anyone), or an app.access.tokens.Allow level: "admin", "reviewer" (admin or
# reviewer), "candidate" (admin or this session's candidate), "reader" (all three).
Auth = Literal["none", "admin", "reviewer", "candidate", "reader", "own_record"]


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[H]):
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    handler: Callable[[H, Request], Awaitable[Response]]  # a method of the handler class H
    summary: str
    answer: Any  # the msgspec type of the success body; None: no body
    status: int = 200
    body: Any = None  # the msgspec type of the request body
    # "required"; "optional": no body reads as {}; "nonempty": {} is refused (a PUT naming no field)
    body_rule: Literal["required", "optional", "nonempty"] = "required"
    query: Any = None  # a msgspec Struct of the query parameters
    auth: Auth = "admin"
    errors: tuple[int, ...] = ()  # besides 401/403 for authenticated endpoints
    idempotent_key: bool = False  # takes Idempotency-Key
    media_type: str = "application/json"
    # Other media types the answer comes in (a query parameter picks one), each a string.
    alternates: tuple[str, ...] = ()
    counted: bool = True  # in vigil_http_requests_total; health checks are not
    # Issue 24: a body that is not JSON (a video chunk), by the media types it may have.
    binary_body: tuple[str, ...] = ()
    # Answers a `Range: bytes=START-END` header with 206 and that part (a <video> seeking).
    ranges: bool = False


class EndpointBinder:
    """Routes for declared endpoints, served by a handler object: each request counted, and
    passed through `middleware` (the audit log's) once Starlette has turned errors into answers."""

    def __init__(self, metrics: Metrics, middleware: Sequence[Middleware]) -> None:
        self._metrics = metrics
        self._middleware = middleware

    def routes(self, endpoints: Sequence[Endpoint[H]], handlers: H) -> list[Route]:
        return [
            Route(
                e.path,
                self._bound(e, handlers),
                methods=[e.method],
                name=e.handler.__name__,
                middleware=self._middleware,
            )
            for e in endpoints
        ]

    def _bound(self, endpoint: Endpoint[H], handlers: H) -> Handler:
        method, metrics, counted = endpoint.handler, self._metrics, endpoint.counted

        async def handle(request: Request) -> Response:
            if counted:
                metrics.http_requests += 1
            return await method(handlers, request)

        return handle
