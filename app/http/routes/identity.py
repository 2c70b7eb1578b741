"""`PUT /candidate-sessions/:id/reference-photo` (CONTRACT.md 9.1): the registered candidate's
photo becomes the session's reference face. The photo is analysed in the vision pool, never on
the event loop; only its face's embedding is kept (sealed, by the session's actor). A refused
photo (no face, several, one too small to tell) changes nothing."""

from __future__ import annotations

from typing import Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.messages import SetReference
from actors.ports import EventEntry
from actors.protocol_codes import (
    IDENTITY_OFF,
    INVALID_BODY,
    MULTIPLE_FACES,
    NO_FACE,
    UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
)
from actors.reply import Reply
from app.access.gate import AccessGate
from app.http.bodies import json_response, read_body
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import SessionCalls
from app.vision.errors import FrameRejected
from app.vision.service import VisionDown, VisionService

JPEG: Final = "image/jpeg"
_TOO_SMALL: Final = {
    "too_small": "the face in the photo is too small to tell who it is; send one where the face "
    "is at least 40 pixels wide (a passport-style photo, or the face filling a third of a "
    "webcam picture)",
    "no_keypoints": "the face in the photo cannot be aligned (its eyes and mouth are not found); "
    "send a photo facing the camera",
}


class ReferencePhotoSet(msgspec.Struct, frozen=True, kw_only=True):
    faceFound: Literal[True]
    faces: int
    reference: Literal["photo"]
    eventOffset: int  # the `identity_enrolled` event it stored


class IdentityRoutes:
    def __init__(
        self, gate: AccessGate, calls: SessionCalls, vision: VisionService | None, limit: int
    ) -> None:
        self._gate = gate
        self._calls = calls
        self._vision = vision
        self._limit = limit

    async def put_reference_photo(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="candidate")
        await self._calls.record_or_404(session_id)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JPEG:
            raise ApiError(
                415,
                UNSUPPORTED_MEDIA_TYPE,
                f"expected Content-Type {JPEG}, got {media_type or 'none'}: send the photo's "
                "JPEG bytes as the body",
            )
        photo = await read_body(request, self._limit)
        if not photo:
            raise ApiError(422, INVALID_BODY, "the body is empty; expected a JPEG photo", "body")
        embedding = await self._embedding(photo)
        reply: Reply[EventEntry] = Reply()
        entry = await self._calls.ask(
            session_id, SetReference(embedding=embedding, reply=reply), reply
        )
        answer = ReferencePhotoSet(
            faceFound=True, faces=1, reference="photo", eventOffset=entry.event.offset
        )
        return json_response(answer)

    async def _embedding(self, photo: bytes) -> tuple[float, ...]:
        if self._vision is None:
            raise ApiError(409, IDENTITY_OFF, "vision is off ([vision] enabled = false)")
        try:
            found = await self._vision.embed_photo(photo)
        except FrameRejected as exc:
            raise ApiError(
                422, INVALID_BODY, f"the body is no usable JPEG: {exc}", "body"
            ) from None
        except VisionDown as exc:
            raise ApiError(503, UNAVAILABLE, f"vision is unavailable: {exc}; retry later") from None
        if found.faces == 0:
            raise ApiError(
                422, NO_FACE, "no face was found in the photo; send one that shows the candidate's "
                "face, lit from the front; nothing was kept",
            )  # fmt: skip
        if found.faces > 1:
            raise ApiError(
                422, MULTIPLE_FACES, f"the photo shows {found.faces} faces; send one of the "
                "candidate alone; nothing was kept",
            )  # fmt: skip
        if found.embedding is None:
            reason = found.reason or ""
            if reason in _TOO_SMALL:
                raise ApiError(422, NO_FACE, _TOO_SMALL[reason] + "; nothing was kept")
            raise ApiError(409, IDENTITY_OFF, f"identity is not checked: {reason}")
        return tuple(found.embedding)


ENDPOINTS: Final = [
    Endpoint(
        "PUT",
        "/candidate-sessions/{session_id}/reference-photo",
        IdentityRoutes.put_reference_photo,
        "Set the session's reference face from a JPEG photo of the candidate",
        ReferencePhotoSet,
        raw_body=JPEG,
        auth="candidate",
        errors=(404, 409, 413, 415, 422, 503),
    ),
]
