"""CORS for the few REST calls the candidate SDK makes from an integrator's page on its own
origin: the screen recording's chunks, the system check, its calibration frame and the reference
photo. Its socket needs no CORS; these are `fetch` calls with an `Authorization` header, which a
browser sends only after a preflight that this answers.

The origins are `[server] allowed_origins`, as for sockets (empty: any). The token travels in a
header, never in a cookie, so no page gains anything it does not already hold by being let in:
that is why an empty list may answer `*`. Every other path is left as it is: the admin's API is
not meant for other origins' pages.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors import protocol_codes as codes
from app.http.errors import error_response

SDK_PATHS: Final = re.compile(
    r"^/candidate-sessions/[^/]+/"
    r"(?:screen-recording/chunks/[^/]+|system-check|calibration|reference-photo)$"
)
ALLOWED_METHODS: Final = "GET, POST, PUT"
ALLOWED_HEADERS: Final = "authorization, content-type, idempotency-key"
# Headers a page's script may read from an answer (the rest of CORS's safelist is implied).
EXPOSED_HEADERS: Final = "retry-after"
PREFLIGHT_MAX_AGE: Final = "600"


class SdkCorsMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = frozenset(origin.rstrip("/") for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not SDK_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        if origin is None:  # not a cross-origin browser request
            await self.app(scope, receive, send)
            return
        if self.allowed and origin.rstrip("/") not in self.allowed:
            if scope["method"] == "OPTIONS":
                await _refuse_preflight(scope, receive, send, origin)
                return
            await self.app(scope, receive, send)  # answered without CORS: the page reads nothing
            return
        allow = origin if self.allowed else "*"
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await _preflight(send, allow)
            return

        async def send_allowed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers += _cors_headers(allow)
                headers.append((b"access-control-expose-headers", EXPOSED_HEADERS.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_allowed)


def _cors_headers(allow: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"access-control-allow-origin", allow.encode("latin-1"))]
    if allow != "*":
        headers.append((b"vary", b"origin"))
    return headers


async def _preflight(send: Send, allow: str) -> None:
    headers = [
        *_cors_headers(allow),
        (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
        (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE.encode()),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _refuse_preflight(scope: Scope, receive: Receive, send: Send, origin: str) -> None:
    refused = error_response(
        403,
        codes.FORBIDDEN,
        f"origin {origin} is not allowed here ([server] allowed_origins)",
        "Origin",
    )
    await refused(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
