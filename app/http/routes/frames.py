"""`GET /candidate-sessions/:id/frames/<offset>.jpg`: a kept webcam frame (the report's
flaggedFrames). Frames show faces and rooms: an admin or reviewer token, or the signed, expiring
link the report hands out (app/access/signing.py), which is audited as such."""

from __future__ import annotations

import re
import time
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from app.access.gate import AccessGate
from app.access.signing import BadSignature, UrlSigner
from app.http.bodies import now_iso
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.routes.audit import WriteAudit
from app.http.session_calls import SessionCalls
from app.storage.audit import AuditRow
from app.storage.frames import FrameStore

_FRAME_NAME: Final = re.compile(r"^(\d{1,12})\.jpg$")


class FrameRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(
        self,
        gate: AccessGate,
        calls: SessionCalls,
        frames: FrameStore | None,
        signer: UrlSigner,
        audit: WriteAudit,
    ) -> None:
        self._gate = gate
        self._calls = calls
        self._frames = frames
        self._signer = signer
        self._audit = audit

    async def get_frame(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        signed = "signature" in request.query_params
        if signed:
            self._check_link(request)
        else:
            await self._gate.require(request, session_id, allow="reviewer")
        await self._calls.record_or_404(session_id)
        name = request.path_params["frame"]
        matched = _FRAME_NAME.match(name)
        found = None
        if matched is not None and self._frames is not None:
            found = await self._frames.read(session_id, int(matched.group(1)))
        if found is None:
            raise ApiError(
                404, "not_found", f"no kept frame {name!r} for session {session_id!r}; the kept "
                "ones are listed in the report's detailedFindings.flaggedFrames",
            )  # fmt: skip
        if signed:  # no token to name in the audit log: the link is on record instead
            await self._audit_link(request)
        return Response(
            found,
            media_type="image/jpeg",
            headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
        )

    def _check_link(self, request: Request) -> None:
        query = request.query_params
        try:
            self._signer.check(
                request.url.path, query.get("expires"), query.get("signature"), time.time()
            )
        except BadSignature as exc:
            raise ApiError(403, exc.code, exc.message, "signature") from None

    async def _audit_link(self, request: Request) -> None:
        query = request.query_params
        client = request.client
        await self._audit(
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
        "GET", "/candidate-sessions/{session_id}/frames/{frame}", FrameRoutes.get_frame,
        "A kept webcam frame (JPEG); an admin or reviewer token, or the signed link from the "
        "report", str, errors=(404,), media_type="image/jpeg",
        auth="reviewer",
    ),
]  # fmt: skip
