"""`GET /candidate-sessions/:id/frames/<offset>.jpg`: a kept webcam frame (the report's
flaggedFrames), for the admin token only: frames show faces and rooms."""

from __future__ import annotations

import re
from typing import Final

import anyio
from starlette.requests import Request
from starlette.responses import Response

from app.endpoints import Endpoint
from app.errors import ApiError
from app.session_access import record_or_404, require, services_of

_FRAME_NAME: Final = re.compile(r"^(\d{1,12})\.jpg$")


async def get_frame(request: Request) -> Response:
    services = services_of(request)
    session_id = request.path_params["session_id"]
    await require(request, services, session_id, allow="reviewer")
    await record_or_404(services, session_id)
    name = request.path_params["frame"]
    matched = _FRAME_NAME.match(name)
    found = None
    if matched is not None and services.frames is not None:
        found = services.frames.path(session_id, int(matched.group(1)))
    if found is None:
        raise ApiError(
            404, "not_found", f"no kept frame {name!r} for session {session_id!r}; the kept "
            "ones are listed in the report's detailedFindings.flaggedFrames",
        )  # fmt: skip
    body = await anyio.Path(found).read_bytes()
    return Response(
        body,
        media_type="image/jpeg",
        headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
    )


ENDPOINTS = [
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/frames/{frame}", get_frame,
        "A kept webcam frame (JPEG)", str, errors=(404,), media_type="image/jpeg",
        auth="reviewer",
    ),
]  # fmt: skip
