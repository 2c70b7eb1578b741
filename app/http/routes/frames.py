"""`GET /candidate-sessions/:id/frames/<offset>.jpg`: a kept webcam frame (the report's
flaggedFrames). Frames show faces and rooms: an admin or reviewer token, or the signed, expiring
link the report hands out (app/access/signing.py), which is audited as such."""

from __future__ import annotations

import re
import time
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from app.access.signing import BadSignature
from app.http.bodies import now_iso
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import record_or_404, require, services_of
from app.services import Services
from app.storage.audit import AuditRow

_FRAME_NAME: Final = re.compile(r"^(\d{1,12})\.jpg$")


async def get_frame(request: Request) -> Response:
    services = services_of(request)
    session_id = request.path_params["session_id"]
    signed = "signature" in request.query_params
    if signed:
        _check_link(request, services)
    else:
        await require(request, services, session_id, allow="reviewer")
    await record_or_404(services, session_id)
    name = request.path_params["frame"]
    matched = _FRAME_NAME.match(name)
    found = None
    if matched is not None and services.frames is not None:
        found = await services.frames.read(session_id, int(matched.group(1)))
    if found is None:
        raise ApiError(
            404, "not_found", f"no kept frame {name!r} for session {session_id!r}; the kept "
            "ones are listed in the report's detailedFindings.flaggedFrames",
        )  # fmt: skip
    if signed:  # no token to name in the audit log: the link is on record instead
        await _audit_link(request, services)
    return Response(
        found,
        media_type="image/jpeg",
        headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
    )


def _check_link(request: Request, services: Services) -> None:
    assert services.signer is not None, "the server signs its media links"
    query = request.query_params
    try:
        services.signer.check(
            request.url.path, query.get("expires"), query.get("signature"), time.time()
        )
    except BadSignature as exc:
        raise ApiError(403, exc.code, exc.message, "signature") from None


async def _audit_link(request: Request, services: Services) -> None:
    query = request.query_params
    client = request.client
    await services.journal.audit(
        AuditRow(
            at=now_iso(),
            actor="signed-link",
            action=f"GET {request.url.path}",
            sessionId=request.path_params["session_id"],
            status=200,
            address=client.host if client else None,
            detail={"expires": int(query["expires"])},
        )
    )


ENDPOINTS = [
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/frames/{frame}", get_frame,
        "A kept webcam frame (JPEG); an admin or reviewer token, or the signed link from the "
        "report", str, errors=(404,), media_type="image/jpeg",
        auth="reviewer",
    ),
]  # fmt: skip
