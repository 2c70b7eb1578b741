"""Who is on camera, over HTTP (CONTRACT.md 9.1), and the system check before the exam.

- `PUT /candidate-sessions/:id/reference-photo`: the registered candidate's photo becomes the
  session's reference face. The photo is analysed in the vision pool, never on the event loop;
  only its face's embedding is kept (sealed, by the session's actor). A refused photo (no face,
  several, one too small to tell) changes nothing.
- `GET /candidate-sessions/:id/system-check`: what the SDK's `check()` shows: the consent text.
- `POST /candidate-sessions/:id/calibration`: one webcam JPEG, analysed like a camera's frame;
  the answer says whether the camera will serve and what to fix, and is stored as
  `calibration_checked`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.identity import CALIBRATION_CHECKED
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
from app.http.bodies import json_response, now_iso, read_body
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.session_calls import SessionCalls
from app.vision.errors import FrameRejected
from app.vision.service import VisionDown, VisionService
from app.vision.verdict import FrameVerdict

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


class SystemCheck(msgspec.Struct, frozen=True, kw_only=True):
    consentText: str
    consentSha256: str  # what `consent_given` names, so the record says which text was agreed
    keptDays: float | None  # None: kept until erased
    steps: list[str]
    # The server can analyse a calibration frame now (vision on and its pool running).
    calibration: bool


class Calibration(msgspec.Struct, frozen=True, kw_only=True):
    passed: bool  # one face, usable light: the camera will serve
    usable: bool
    faces: int | None  # None: the frame was too poor to look for faces
    quality: str | None  # why the frame is unusable: dark, bright, uniform, blurred
    brightness: float
    lookingAway: bool | None
    advice: str
    eventOffset: int  # the stored `calibration_checked`


_ADVICE: Final = {
    "dark": "The picture is too dark: turn on a light in front of you.",
    "bright": "The picture is too bright: move away from the window or the lamp behind the camera.",
    "uniform": "The camera shows nothing: uncover it, or pick another camera.",
    "blurred": "The picture is blurred: clean the lens and hold still.",
}


class IdentityRoutes:
    def __init__(
        self,
        gate: AccessGate,
        calls: SessionCalls,
        vision: VisionService | None,
        limit: int,
        consent_text: str,
        kept_days: float,
    ) -> None:
        self._gate = gate
        self._calls = calls
        self._vision = vision
        self._limit = limit
        kept = f"for {kept_days:g} days after you finish" if kept_days else "until it erases it"
        self._consent = consent_text.replace("{kept}", kept)
        self._kept_days = kept_days or None

    async def get_system_check(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="candidate")
        await self._calls.record_or_404(session_id)
        return json_response(
            SystemCheck(
                consentText=self._consent,
                consentSha256=hashlib.sha256(self._consent.encode()).hexdigest(),
                keptDays=self._kept_days,
                steps=["permissions", "calibration", "consent"],
                calibration=self._vision is not None and self._vision.available,
            )
        )

    async def post_calibration(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="candidate")
        await self._calls.record_or_404(session_id)
        frame = await self._jpeg(request)
        with _vision_errors():
            verdict = await self._vision_on().calibrate(frame)
        found = _calibration(verdict)
        entry = await self._calls.record_event(
            session_id, type=CALIBRATION_CHECKED, ts=now_iso(), data=msgspec.to_builtins(found)
        )
        return json_response(
            Calibration(**msgspec.structs.asdict(found), eventOffset=entry.event.offset)
        )

    def _vision_on(self) -> VisionService:
        if self._vision is None:
            raise ApiError(409, IDENTITY_OFF, "vision is off ([vision] enabled = false)")
        return self._vision

    async def _jpeg(self, request: Request) -> bytes:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JPEG:
            raise ApiError(
                415,
                UNSUPPORTED_MEDIA_TYPE,
                f"expected Content-Type {JPEG}, got {media_type or 'none'}: send the picture's "
                "JPEG bytes as the body",
            )
        body = await read_body(request, self._limit)
        if not body:
            raise ApiError(422, INVALID_BODY, "the body is empty; expected a JPEG", "body")
        return body

    async def put_reference_photo(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="candidate")
        await self._calls.record_or_404(session_id)
        photo = await self._jpeg(request)
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
        with _vision_errors():
            found = await self._vision_on().embed_photo(photo)
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


class _Found(msgspec.Struct, frozen=True, kw_only=True):
    passed: bool
    usable: bool
    faces: int | None
    quality: str | None
    brightness: float
    lookingAway: bool | None
    advice: str


def _calibration(verdict: FrameVerdict) -> _Found:
    quality = verdict.quality
    faces = verdict.face_count
    if not quality.usable:
        advice = _ADVICE.get(quality.reason or "", "The picture cannot be used.")
    elif faces == 0:
        advice = "No face is seen: sit in front of the camera, your face in the middle."
    elif faces is not None and faces > 1:
        advice = f"{faces} faces are seen: only you may be in the picture."
    elif verdict.looking_away:
        advice = "The camera works. Face the screen while you answer."
    else:
        advice = "The camera works: one face, in usable light."
    return _Found(
        passed=quality.usable and faces == 1,
        usable=quality.usable,
        faces=faces,
        quality=quality.reason,
        brightness=quality.brightness,
        lookingAway=verdict.looking_away,
        advice=advice,
    )


ENDPOINTS: Final = [
    Endpoint(
        "PUT",
        "/candidate-sessions/{session_id}/reference-photo",
        IdentityRoutes.put_reference_photo,
        "Set the session's reference face from a JPEG photo of the candidate",
        ReferencePhotoSet,
        binary_body=(JPEG,),
        auth="candidate",
        errors=(404, 409, 413, 415, 422, 503),
    ),
    Endpoint(
        "GET",
        "/candidate-sessions/{session_id}/system-check",
        IdentityRoutes.get_system_check,
        "What the system check before the exam shows: the consent text",
        SystemCheck,
        auth="candidate",
        errors=(404,),
    ),
    Endpoint(
        "POST",
        "/candidate-sessions/{session_id}/calibration",
        IdentityRoutes.post_calibration,
        "Analyse one webcam JPEG of the system check: will the camera serve?",
        Calibration,
        binary_body=(JPEG,),
        auth="candidate",
        errors=(404, 409, 413, 415, 422, 503),
    ),
]


@contextmanager
def _vision_errors() -> Iterator[None]:
    """What the pool says of a picture, as the API's answers."""
    try:
        yield
    except FrameRejected as exc:
        raise ApiError(422, INVALID_BODY, f"the body is no usable JPEG: {exc}", "body") from None
    except VisionDown as exc:
        raise ApiError(503, UNAVAILABLE, f"vision is unavailable: {exc}; retry later") from None
