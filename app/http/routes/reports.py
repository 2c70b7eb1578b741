"""`GET /candidate-sessions/:id/report`: document 002's report as JSON (the default), as a page
to read and print (`?format=html`), or the session's events as CSV (`?format=csv`)."""

from __future__ import annotations

import secrets
import time
from typing import Final, Literal

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors import audio_episodes
from actors.config import ScoringConfig
from actors.events import StoredEvent
from actors.record_types import ScreenRecordingData
from actors.report import AudioFinding, ProctorAnalysisReport, ScreenFinding, build_report
from app.access.gate import AccessGate
from app.access.signing import UrlSigner
from app.http.bodies import decode_query, json_response, now_iso
from app.http.endpoints import Endpoint
from app.http.report_csv import events_csv
from app.http.report_html import report_page
from app.http.session_calls import SessionCalls
from app.storage.frames import FrameStore
from app.storage.store import SqliteStore

# The page loads nothing: forbid everything but its own inline style and its one script, which
# shows times in the viewer's zone (a fresh nonce per page).
_PAGE_POLICY: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'nonce-{}'"
)
_PAGE_FRAMES: Final = 24  # flagged frames shown in the page; the JSON lists them all


class ReportQuery(msgspec.Struct, frozen=True, kw_only=True):
    format: Literal["json", "html", "csv"] = "json"


class ReportRoutes:
    """The handlers of this module's endpoints, with what they use."""

    def __init__(
        self,
        gate: AccessGate,
        calls: SessionCalls,
        store: SqliteStore,
        scoring: ScoringConfig,
        frames: FrameStore | None,
        signer: UrlSigner | None,
        media_url_seconds: int,
    ) -> None:
        self._gate = gate
        self._calls = calls
        self._store = store
        self._scoring = scoring
        self._frames = frames
        self._signer = signer
        self._media_url_seconds = media_url_seconds

    async def get_report(self, request: Request) -> Response:
        """Provisional until the session finishes; built from the committed log."""
        session_id = request.path_params["session_id"]
        await self._gate.require(request, session_id, allow="reviewer")
        query = decode_query(request, ReportQuery)
        record = await self._calls.record_or_404(session_id)
        events = await self._store.events(session_id)
        if query.format == "csv":
            return Response(
                events_csv(events),
                media_type="text/csv; charset=utf-8",
                headers={"content-disposition": f'attachment; filename="{session_id}-events.csv"'},
            )
        view, records = await self._calls.records_of(record, events=events)
        kept: set[int] = set()
        if self._frames is not None:
            kept = await anyio.to_thread.run_sync(self._frames.kept, session_id)
        report = build_report(
            self._scoring, view.state, view.record, records, events, now_iso(), kept
        )
        report = self._with_signed_frames(report)
        report = self._with_audio(report, session_id, events)
        report = self._with_screen(report, session_id, records.screenRecording)
        if query.format == "html":
            images = await self._flagged_images(session_id, kept, report)
            nonce = secrets.token_urlsafe(16)
            return Response(
                report_page(report, events, images, nonce),
                media_type="text/html; charset=utf-8",
                headers={
                    "content-security-policy": _PAGE_POLICY.format(nonce),
                    "x-content-type-options": "nosniff",
                    "referrer-policy": "no-referrer",
                },
            )
        return json_response(report)

    def _with_signed_frames(self, report: ProctorAnalysisReport) -> ProctorAnalysisReport:
        """Flagged frames as signed links: an <img> can show them without the bearer token."""
        if self._signer is None:
            return report
        expires_at = int(time.time()) + self._media_url_seconds
        findings = report.detailedFindings
        signed = [self._signer.sign(path, expires_at) for path in findings.flaggedFrames]
        return msgspec.structs.replace(
            report, detailedFindings=msgspec.structs.replace(findings, flaggedFrames=signed)
        )

    def _with_audio(
        self, report: ProctorAnalysisReport, session_id: str, events: list[StoredEvent]
    ) -> ProctorAnalysisReport:
        """Issue 24: the audio episodes, each clip as a signed link an <audio> can play."""
        found = msgspec.convert(audio_episodes.findings(session_id, events), list[AudioFinding])
        if not found:
            return report
        if self._signer is not None:
            expires_at = int(time.time()) + self._media_url_seconds
            sign = self._signer.sign
            found = [
                msgspec.structs.replace(f, clip=sign(f.clip, expires_at)) if f.clip else f
                for f in found
            ]
        findings = msgspec.structs.replace(report.detailedFindings, audioEpisodes=found)
        return msgspec.structs.replace(report, detailedFindings=findings)

    def _with_screen(
        self,
        report: ProctorAnalysisReport,
        session_id: str,
        recording: ScreenRecordingData | None,
    ) -> ProctorAnalysisReport:
        """Issue 24: the server-held recording, as signed links. Only this session's own paths
        are signed, never a URL from the record (a client could have put any there)."""
        base = f"/candidate-sessions/{session_id}/screen-recording"
        if recording is None or recording.recordingUrl != f"{base}/video" or not self._signer:
            return report
        expires_at = int(time.time()) + self._media_url_seconds
        sign = self._signer.sign
        thumbnail = recording.thumbnailUrl == f"{base}/thumbnail.jpg"
        found = ScreenFinding(
            recordingStartTime=recording.recordingStartTime,
            recordingEndTime=recording.recordingEndTime,
            fileSize=recording.fileSize,
            uploadStatus=recording.uploadStatus,
            video=sign(f"{base}/video", expires_at),
            thumbnail=sign(f"{base}/thumbnail.jpg", expires_at) if thumbnail else None,
        )
        findings = msgspec.structs.replace(report.detailedFindings, screenRecording=found)
        return msgspec.structs.replace(report, detailedFindings=findings)

    async def _flagged_images(
        self, session_id: str, kept: set[int], report: ProctorAnalysisReport
    ) -> dict[str, bytes]:
        """The flagged frames' JPEGs, to show in the page (the request carried the admin token;
        an <img> could not), at most `_PAGE_FRAMES` of them."""
        images: dict[str, bytes] = {}
        if self._frames is None:
            return images
        for link in report.detailedFindings.flaggedFrames[:_PAGE_FRAMES]:
            path = link.split("?", 1)[0]
            offset = int(path.rsplit("/", 1)[1].removesuffix(".jpg"))
            found = await self._frames.read(session_id, offset) if offset in kept else None
            if found is not None:
                images[link] = found
        return images


ENDPOINTS = [
    Endpoint(
        "GET", "/candidate-sessions/{session_id}/report", ReportRoutes.get_report,
        "The post-test analysis report (JSON, or ?format=html / ?format=csv)",
        ProctorAnalysisReport, query=ReportQuery, errors=(404, 422), auth="reviewer",
        alternates=("text/html", "text/csv"),
    ),
]  # fmt: skip
