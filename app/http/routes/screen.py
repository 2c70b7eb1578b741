"""Screen recordings (issue 24, contract section 9.2): `PUT .../screen-recording/chunks/<n>`
takes the SDK's numbered MediaRecorder chunks (the session's candidate token, or an admin), each
stored once, in order, resumable after a network loss (a chunk sent again with the same bytes is
answered 200 and stored nothing); `GET .../screen-recording/video` serves the recording by byte
range to a reviewer or through a signed link, so a browser's <video> can seek.

`screenRecording` on the session is then the server's: each stored chunk stores a
`screen_recording_updated` made by the server (origin "screen") with the times it saw, the
bytes it holds, the format and the upload status."""

from __future__ import annotations

import re
from typing import Any, Final

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.events import elapsed_ms
from actors.messages import RecordEvent
from actors.protocol_codes import BAD_RANGE, QUOTA_EXCEEDED, WRONG_TYPE
from actors.records import SCREEN_RECORDING_UPDATED
from actors.registry import Registry
from actors.reply import Reply
from app.http.bodies import json_response, now_iso, read_body
from app.http.endpoints import Endpoint
from app.http.errors import ApiError
from app.http.routes.frames import FrameRoutes
from app.storage.screen_chunks import ChunkRefused, Manifest, ScreenChunks
from app.vision.thumbnail import first_picture

FORMATS: Final = ("video/webm", "video/mp4")
_RANGE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")


class ChunkStored(msgspec.Struct, frozen=True, kw_only=True):
    """`stored` false: this chunk was already stored (sent again after a lost answer)."""

    stored: bool
    next: int  # the chunk to send next
    fileSize: int  # bytes stored so far


class ScreenRoutes(FrameRoutes):
    """FrameRoutes' access rules (token or signed link) over the chunk store."""

    def setup(self, chunks: ScreenChunks | None, registry: Registry) -> ScreenRoutes:
        assert chunks is not None, "the server builds a chunk store"
        self._chunks = chunks
        self._registry = registry
        return self

    async def put_chunk(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="candidate")
        await self._calls.record_or_404(session_id)
        n_text = request.path_params["n"]
        if not n_text.isdigit() or len(n_text) > 9:  # no such chunk: the path names none
            raise ApiError(404, "not_found", f"chunk number {n_text!r} is not 0 or more", "n")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in FORMATS:
            raise ApiError(
                415, WRONG_TYPE, f"Content-Type is {media_type!r}; expected one of {FORMATS}",
                "content-type",
            )  # fmt: skip
        data = await read_body(request, self._chunks.max_chunk)
        try:
            stored = await self._chunks.put(session_id, int(n_text), data, media_type, now_iso())
        except ChunkRefused as exc:
            if exc.code == QUOTA_EXCEEDED:
                await self._update(session_id, "quota_exceeded")
            raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
        if stored and int(n_text) == 0:
            jpeg = await anyio.to_thread.run_sync(first_picture, data)
            if jpeg is not None:
                await self._chunks.put_thumbnail(session_id, jpeg)
        if stored:
            await self._update(session_id, "uploading")
        manifest = await self._chunks.manifest(session_id)
        count, size = (0, 0) if manifest is None else (len(manifest.sizes), manifest.total)
        return json_response(ChunkStored(stored=stored, next=count, fileSize=size))

    async def _update(self, session_id: str, status: str) -> None:
        manifest = await self._chunks.manifest(session_id)
        if manifest is None:
            return
        reply: Reply[Any] = Reply()
        data = recording_fields(session_id, manifest, status)
        message = RecordEvent(
            type=SCREEN_RECORDING_UPDATED, origin="screen", ts=now_iso(), data=data, reply=reply
        )
        await self._registry.ask(session_id, message, reply)

    async def get_thumbnail(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await self._admit(request, session_id)
        found = await self._chunks.thumbnail(session_id)
        if found is None:
            raise ApiError(404, "not_found", f"session {session_id!r} has no screen thumbnail")
        if "signature" in request.query_params:
            await self._audit_link(request)
        return Response(
            found,
            media_type="image/jpeg",
            headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
        )

    async def _admit(self, request: Request, session_id: str) -> None:
        if "signature" in request.query_params:
            self._check_link(request)
        else:
            await self._gate.require(request, session_id, allow="reviewer")
        await self._calls.record_or_404(session_id)

    async def get_video(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        signed = "signature" in request.query_params
        await self._admit(request, session_id)
        manifest = await self._chunks.manifest(session_id)
        if manifest is None or not manifest.sizes:
            raise ApiError(404, "not_found", f"session {session_id!r} has no screen recording")
        total = manifest.total
        start, end, status = 0, total - 1, 200
        wanted = request.headers.get("range")
        if wanted is not None:
            start, end = _range(wanted, total)
            status = 206
        body = await self._chunks.read(session_id, start, end)
        if signed:
            await self._audit_link(request)
        headers = {
            "accept-ranges": "bytes",
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        }
        if status == 206:
            headers["content-range"] = f"bytes {start}-{end}/{total}"
        return Response(body, status_code=status, media_type=manifest.format, headers=headers)


def recording_fields(session_id: str, manifest: Manifest, status: str) -> dict[str, Any]:
    """Document 001's ScreenRecordingData fields, as the server measured them."""
    return {
        "recordingStartTime": manifest.first,
        "recordingEndTime": manifest.last,
        "totalDuration": elapsed_ms(manifest.first, manifest.last) / 1000,
        "fileSize": manifest.total,
        "format": manifest.format,
        "uploadStatus": status,
        "recordingUrl": f"/candidate-sessions/{session_id}/screen-recording/video",
        **(
            {"thumbnailUrl": f"/candidate-sessions/{session_id}/screen-recording/thumbnail.jpg"}
            if manifest.thumbnail
            else {}
        ),
    }


def _range(header: str, total: int) -> tuple[int, int]:
    matched = _RANGE.match(header.strip())
    if matched is None or matched.group(1) == matched.group(2) == "":
        raise ApiError(416, BAD_RANGE, f"Range {header!r}: expected bytes=START-END", "range")
    first, last = matched.groups()
    if first == "":
        start, end = max(0, total - int(last)), total - 1  # the last N bytes
    else:
        start, end = int(first), min(int(last), total - 1) if last else total - 1
    if start >= total or start > end:
        raise ApiError(416, BAD_RANGE, f"Range {header!r} is outside 0-{total - 1}", "range")
    return start, end


ENDPOINTS = [
    Endpoint(
        "PUT", "/candidate-sessions/{session_id}/screen-recording/chunks/{n}",
        ScreenRoutes.put_chunk,
        "One numbered chunk of the screen recording (video/webm or video/mp4 body), in order, "
        "stored once; an empty body stores nothing", ChunkStored, body_rule="optional",
        auth="candidate", errors=(404, 409, 413, 415, 507), binary_body=FORMATS,
    ),
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/screen-recording/thumbnail.jpg",
        ScreenRoutes.get_thumbnail,
        "The screen recording's thumbnail (its first picture, JPEG); a reviewer token or a "
        "signed link", str, errors=(404,), media_type="image/jpeg", auth="reviewer",
    ),
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/screen-recording/video", ScreenRoutes.get_video,
        "The screen recording (Range requests answered 206); a reviewer token or a signed link",
        str, errors=(404, 416), media_type="video/webm", auth="reviewer", ranges=True,
    ),
]  # fmt: skip
