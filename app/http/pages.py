"""The browser side (CONTRACT.md section 8), served from files inside the package so the one
`vigil serve` carries it: `/dashboard`, `/demo`, `/sdk/vigil-client.js` (and the modules it imports), and `/sdk/protocol.js`,
the tables of codes and event types the SDK and the dashboard import, generated from Python.

The files are read (or generated) once, when the app is built, and served from memory with an
ETag. Only the files in `app/web/` are reachable: a name is looked up, never joined to a path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.protocol_codes import NOT_FOUND
from app.http.errors import ApiError
from app.http.protocol_js import protocol_module

WEB: Final = Path(__file__).parent.parent / "web"
PROTOCOL_MODULE: Final = "sdk/protocol.js"
_MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Pages load only their own files, talk only to this server (its sockets included), and show
# webcam frames from blob: URLs. No inline script, no framing by other sites.
_PAGE_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
_COMMON_HEADERS: Final = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",  # revalidate by ETag: a new release is seen at once
}


@dataclass(frozen=True, slots=True)
class WebFile:
    body: bytes
    media_type: str
    etag: str


def generated_files() -> dict[str, bytes]:
    return {PROTOCOL_MODULE: protocol_module().encode()}


class WebFiles:
    """`app/web/<folder>/<name>`, read into memory once, and the generated files."""

    def __init__(self, root: Path = WEB) -> None:
        self.files: dict[str, WebFile] = {}
        for path in sorted(root.rglob("*")):
            media_type = _MEDIA_TYPES.get(path.suffix)
            if path.is_file() and media_type is not None:
                self._add(path.relative_to(root).as_posix(), path.read_bytes(), media_type)
        for name, body in generated_files().items():
            self._add(name, body, _MEDIA_TYPES[".js"])

    def _add(self, name: str, body: bytes, media_type: str) -> None:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.files[name] = WebFile(body, media_type, etag)

    def response(self, request: Request, name: str, cross_origin: bool = False) -> Response:
        found = self.files.get(name)
        if found is None:
            raise ApiError(404, NOT_FOUND, f"no page or file {request.url.path!r}")
        headers = {**_COMMON_HEADERS, "etag": found.etag}
        if found.media_type.startswith("text/html"):
            headers["content-security-policy"] = _PAGE_POLICY
        if cross_origin:
            # The SDK is imported by integrators' pages on their own origins (ES modules are
            # fetched with CORS).
            headers["access-control-allow-origin"] = "*"
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)


def page_routes(files: WebFiles) -> list[Route]:
    async def sdk(request: Request) -> Response:
        # The SDK's modules (vigil-client.js, the generated protocol.js and the ones they
        # import) are imported by integrators' pages on their own origins.
        return files.response(request, f"sdk/{request.path_params['name']}", cross_origin=True)

    async def dashboard(request: Request) -> Response:
        return files.response(request, "dashboard/index.html")

    async def demo(request: Request) -> Response:
        return files.response(request, "demo/index.html")

    async def asset(request: Request) -> Response:
        folder = request.url.path.split("/")[1]
        return files.response(request, f"{folder}/{request.path_params['name']}")

    return [
        Route("/sdk/{name}", sdk, methods=["GET", "HEAD"]),
        Route("/dashboard", dashboard, methods=["GET", "HEAD"]),
        Route("/dashboard/{name}", asset, methods=["GET", "HEAD"]),
        Route("/demo", demo, methods=["GET", "HEAD"]),
        Route("/demo/{name}", asset, methods=["GET", "HEAD"]),
    ]
