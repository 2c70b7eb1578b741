"""`/ws/candidate/{sessionId}`: one candidate's event stream (CONTRACT.md section 4)."""

from __future__ import annotations

import logging
import time

import anyio
import msgspec
from starlette.websockets import WebSocket

from actors import outbound
from actors.events import CANDIDATE_EVENT_DECODER, FRAME_HEADER_DECODER
from actors.messages import CandidateAttached, CandidateDetached, CandidateEventIn
from actors.protocol_codes import (
    CLOSE_FORBIDDEN,
    CLOSE_GOING_AWAY,
    CLOSE_MOVED,
    CLOSE_NODE_UNREACHABLE,
    CLOSE_NOT_FOUND,
    CLOSE_SESSION_FAILED,
    CLOSE_UNAUTHORIZED,
    INVALID_EVENT,
    INVALID_JSON,
    RATE_LIMITED,
    TOO_LARGE,
    UNKNOWN_TYPE,
)
from actors.registry import Registry, RegistryClosed, SessionFailed, UnknownSession
from app.access.gate import AccessGate
from app.access.ratelimit import RateLimiter
from app.access.socket_guard import SocketGuard, client_address
from app.access.socket_token import socket_token
from app.audio.intake import AudioIntake
from app.audio.wire import AudioWindowError, is_audio
from app.http.bodies import TOO_DEEP
from app.http.errors import validation_field
from app.kafka.cluster_nodes import UP
from app.kafka.cluster_view import ClusterView
from app.settings import CandidateSettings, LimitsSettings
from app.sockets.candidate_writer import CandidateSocketLink
from app.sockets.forwarding import forwarding
from app.telemetry.metrics import Metrics
from app.vision.service import VisionService

log = logging.getLogger("vigil.candidate")


class CandidateSocket:
    """Serves `/ws/candidate/{sessionId}`, with what it uses."""

    def __init__(
        self,
        gate: AccessGate,
        guard: SocketGuard,
        registry: Registry,
        metrics: Metrics,
        vision: VisionService | None,
        candidate: CandidateSettings,
        limits: LimitsSettings,
        audio: AudioIntake | None = None,
        cluster: ClusterView | None = None,
    ) -> None:
        self._gate = gate
        self._guard = guard
        self._registry = registry
        self._metrics = metrics
        self._vision = vision
        self._candidate = candidate
        self._limits = limits
        self._audio = audio
        self._cluster = cluster

    async def serve(self, websocket: WebSocket) -> None:
        async with self._guard.admitted(websocket) as admitted:
            if admitted:
                await self._serve(websocket)

    async def _serve(self, websocket: WebSocket) -> None:
        session_id = websocket.path_params["session_id"]
        if self._cluster is not None and (host := self._cluster.host_of(session_id)):
            await self._send_to(websocket, self._cluster, host)
            return
        token, subprotocol = socket_token(websocket)
        access = await self._gate.resolve(token, session_id)
        await websocket.accept(subprotocol)
        refused = self._gate.refusal(access, "candidate", "socket")
        if refused is not None:
            code = CLOSE_UNAUTHORIZED if refused.status == 401 else CLOSE_FORBIDDEN
            await websocket.close(code, refused.message)
            return
        registry, metrics = self._registry, self._metrics
        link = CandidateSocketLink(websocket, self._candidate.outbox_size, metrics)
        link.forwarding = forwarding(websocket.headers, link.remote_address)
        try:
            await registry.send(session_id, CandidateAttached(link))
        except (UnknownSession, SessionFailed, RegistryClosed) as exc:
            link.dispose()
            code, reason = _refusal(exc)
            await websocket.close(code, reason)
            return
        metrics.candidate_connections += 1
        code = 1006
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(link.run_writer)
                code = await self._read_events(websocket, session_id, link)
                if link.closing:  # let the writer send the close frame, briefly
                    tg.cancel_scope.deadline = anyio.current_time() + 1.0
                else:
                    tg.cancel_scope.cancel()
        finally:
            metrics.candidate_connections -= 1
            with anyio.CancelScope(shield=True):
                try:
                    await registry.send(session_id, CandidateDetached(link, code))
                except (UnknownSession, SessionFailed, RegistryClosed):
                    pass  # nothing left to tell: the session is gone or the server is stopping

    async def _send_to(self, websocket: WebSocket, cluster: ClusterView, host: str) -> None:
        """Another node hosts the session (a plain load balancer sent the socket here): tell the
        client where, before any token is looked at (this node holds none of that session's)."""
        _, subprotocol = socket_token(websocket)
        await websocket.accept(subprotocol)
        url = cluster.nodes.url(host)
        if url is None or cluster.nodes.status(host) != UP:
            await websocket.close(CLOSE_NODE_UNREACHABLE, f"node {host[:60]} is not answering")
            return
        await websocket.send_text(outbound.encode(outbound.Moved(url=url)).decode())
        await websocket.close(CLOSE_MOVED, f"hosted by node {host[:60]}")

    async def _read_events(
        self, websocket: WebSocket, session_id: str, link: CandidateSocketLink
    ) -> int:
        """Read until the socket closes; return the close code."""
        receive = websocket.receive
        send = self._registry.send
        metrics = self._metrics
        max_event = self._candidate.max_event_bytes
        max_frame = self._candidate.max_frame_bytes
        vision = self._vision
        limits = self._limits
        pace = RateLimiter(limits.candidate_events_per_second, limits.candidate_events_burst)
        guard, address = self._guard, client_address(websocket)
        audio_pace = self._audio_pace()
        while True:
            message = await receive()
            received = time.perf_counter()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code", 1000))
            text = message.get("text")
            if text is None:
                frame = message.get("bytes") or b""
                if is_audio(frame):
                    await self._take_audio(session_id, link, frame, max_frame, audio_pace)
                    continue
                if _frame_fits(link, metrics, frame, max_frame) and vision is not None:
                    vision.submit(session_id, frame)
                continue
            size = _utf8_size(text, max_event)
            if size > max_event:
                too_big = f"event is {size} bytes; the limit is {max_event}"
                _reject(link, metrics, TOO_LARGE, too_big, seq=_seq_of(text))
                continue
            over = _over_limit(pace, guard, address, limits)
            if over is not None:
                _reject(link, metrics, RATE_LIMITED, over, seq=_seq_of(text))
                continue
            try:
                event = CANDIDATE_EVENT_DECODER.decode(text)
            except msgspec.ValidationError as exc:
                _reject_invalid(link, metrics, text, exc)
                continue
            except msgspec.DecodeError as exc:
                _reject(link, metrics, INVALID_JSON, f"frame is not valid JSON: {exc}")
                continue
            except RecursionError:
                _reject(link, metrics, INVALID_JSON, TOO_DEEP)
                continue
            metrics.events_received += 1
            try:
                await send(session_id, CandidateEventIn(event, link, received))
            except (UnknownSession, SessionFailed, RegistryClosed) as exc:
                code, reason = _refusal(exc)
                link.close(code, reason)  # the writer sends the close; the client resends later
                return code

    def _audio_pace(self) -> RateLimiter:
        rate = self._audio.windows_per_second if self._audio is not None else 0.0
        return RateLimiter(rate, max(1, int(rate * 5)))

    async def _take_audio(
        self,
        session_id: str,
        link: CandidateSocketLink,
        frame: bytes,
        max_frame: int,
        pace: RateLimiter,
    ) -> None:
        """Issue 24: an audio window (app/audio/wire.py); a bad one is refused, nothing stored."""
        if len(frame) > max_frame:
            too_big = f"audio window is {len(frame)} bytes; the limit is {max_frame}"
            _reject(link, self._metrics, TOO_LARGE, too_big)
            return
        if self._audio is None:
            return  # `[audio] enabled = false`: the server does not listen
        if pace.take("socket") > 0:
            over = f"more than {pace.rate:g} audio windows per second ([audio] windows_per_second)"
            _reject(link, self._metrics, RATE_LIMITED, f"{over}; this one was not stored")
            return
        try:
            await self._audio.submit(session_id, frame)
        except AudioWindowError as exc:
            _reject(link, self._metrics, INVALID_EVENT, str(exc), field=exc.field)


def _refusal(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, UnknownSession):
        return CLOSE_NOT_FOUND, "no such session"
    if isinstance(exc, SessionFailed):
        return CLOSE_SESSION_FAILED, "session failed on the server"
    return CLOSE_GOING_AWAY, "server shutting down"


def _over_limit(
    pace: RateLimiter, guard: SocketGuard, address: str, limits: LimitsSettings
) -> str | None:
    """Why one more text event may not go ahead now, or None. (An event the address's limit
    refuses still took one of this socket's tokens: that errs on the strict side.)"""
    if pace.take("socket") > 0:
        rate, burst, which = (
            limits.candidate_events_per_second,
            limits.candidate_events_burst,
            "on this socket ([limits] candidate_events_per_second)",
        )
    elif guard.take_event(address) > 0:
        rate, burst, which = (
            limits.address_events_per_second,
            limits.address_events_burst,
            f"from {address}, all its sockets together ([limits] address_events_per_second)",
        )
    else:
        return None
    return (
        f"more than {rate:g} events per second {which}, bursts of {burst}; this one was not "
        "stored: send it again later"
    )


def _utf8_size(text: str, limit: int) -> int:
    """The text's size in bytes on the wire. A character is 1 to 4 bytes: only text that might
    be over the limit is encoded to find out."""
    if len(text) * 4 <= limit:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _frame_fits(link: CandidateSocketLink, metrics: Metrics, frame: bytes, max_frame: int) -> bool:
    if len(frame) > max_frame:
        _reject(link, metrics, TOO_LARGE, f"frame is {len(frame)} bytes; the limit is {max_frame}")
        return False
    metrics.frames_received += 1
    return True


def _reject_invalid(
    link: CandidateSocketLink, metrics: Metrics, text: str, exc: msgspec.ValidationError
) -> None:
    field = validation_field(exc)
    seq = _seq_of(text)
    if field == "type":
        code, message = UNKNOWN_TYPE, f"unknown or missing event type: {exc}"
    else:
        code, message = INVALID_EVENT, str(exc)
    _reject(link, metrics, code, message, seq=seq, field=field)


def _seq_of(text: str) -> int | None:
    """The seq of a frame that will not be stored, if it can be read, for the error."""
    try:
        return FRAME_HEADER_DECODER.decode(text).seq
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None


def _reject(
    link: CandidateSocketLink,
    metrics: Metrics,
    code: str,
    message: str,
    seq: int | None = None,
    field: str | None = None,
) -> None:
    link.refuse(outbound.encode(outbound.Error(code=code, message=message, seq=seq, field=field)))
