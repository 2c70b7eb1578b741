"""Headers every HTTP answer carries (issue 8), added once here rather than per route: no
MIME sniffing, no framing by other sites, no Referer leaking session ids in URLs, and nothing
cached by browsers or proxies, since most answers carry session data. A response that sets one
of these itself keeps its own: pages have their CSP and revalidate by ETag (`app/http/pages.py`),
the HTML report has its CSP (`app/http/routes/reports.py`)."""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: Final = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    # JSON, CSV and text answers load nothing; were one opened as a document, it runs nothing.
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}
_RAW: Final = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in _RAW if pair[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
