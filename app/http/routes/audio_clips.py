"""`GET /candidate-sessions/:id/audio-clips/<offset>.wav`: the evidence clip of an audio episode
(issue 24), where offset is that of its `audio_anomaly` event (whose data names the clip). A
recording of a person's voice and room: the same access as kept frames, an admin or reviewer
token or a signed, expiring link (audited as such)."""

from __future__ import annotations

import re
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.routes.frames import FrameRoutes

_CLIP_NAME: Final = re.compile(r"^(\d{1,12})\.wav$")


class AudioClipRoutes(FrameRoutes):
    """FrameRoutes' access rules over the clip store (`app.storage.frames.clip_store`)."""

    async def get_clip(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        signed = "signature" in request.query_params
        if signed:
            self._check_link(request)
        else:
            await self._gate.require(request, session_id, allow="reviewer")
        await self._calls.record_or_404(session_id)
        name = request.path_params["clip"]
        matched = _CLIP_NAME.match(name)
        found = None
        if matched is not None and self._frames is not None:
            found = await self._frames.read(session_id, int(matched.group(1)))
        if found is None:
            raise ApiError(
                404, "not_found", f"no audio clip {name!r} for session {session_id!r}; each "
                "audio_anomaly event names its clip in data.clip",
            )  # fmt: skip
        if signed:
            await self._audit_link(request)
        return Response(
            found,
            media_type="audio/wav",
            headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
        )


ENDPOINTS = [
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/audio-clips/{clip}", AudioClipRoutes.get_clip,
        "The clip of an audio episode (WAV); an admin or reviewer token, or a signed link",
        str, errors=(404,), media_type="audio/wav", auth="reviewer",
    ),
]  # fmt: skip
