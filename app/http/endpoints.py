"""Every HTTP endpoint declared once, with the types of what it reads and answers: the router and
/openapi.json are both built from these declarations, so the document cannot drift from the
handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]
# Who may call: "none" (anyone), or an app.access.tokens.Allow level: "admin", "reviewer" (admin or
# reviewer), "candidate" (admin or this session's candidate), "reader" (all three).
Auth = Literal["none", "admin", "reviewer", "candidate", "reader"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    handler: Handler
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


def routes(endpoints: Sequence[Endpoint]) -> list[Route]:
    return [Route(e.path, e.handler, methods=[e.method]) for e in endpoints]
