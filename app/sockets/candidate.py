"""`/ws/candidate/{sessionId}`: one candidate's event stream (CONTRACT.md section 4)."""

from __future__ import annotations

import logging
import time
from typing import Final

import anyio
import msgspec
from starlette.websockets import WebSocket

from actors import outbound
from actors.events import CANDIDATE_EVENT_DECODER, FRAME_HEADER_DECODER
from actors.messages import CandidateAttached, CandidateDetached, CandidateEventIn
from actors.registry import RegistryClosed, SessionFailed, UnknownSession
from app.access.ratelimit import RateLimiter
from app.access.socket_guard import SocketGuard, client_address
from app.access.socket_token import socket_token
from app.access.tokens import Access
from app.http.bodies import TOO_DEEP
from app.http.errors import validation_field
from app.services import Services
from app.settings import LimitsSettings
from app.sockets.candidate_writer import CandidateSocketLink
from app.telemetry.metrics import Metrics

log = logging.getLogger("vigil.candidate")

CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NOT_FOUND: Final = 4404
CLOSE_FAILED: Final = 4500
CLOSE_GOING_AWAY: Final = 1001


async def candidate_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    async with services.sockets.admitted(websocket) as admitted:
        if admitted:
            await _candidate_socket(websocket, services)


async def _candidate_socket(websocket: WebSocket, services: Services) -> None:
    session_id = websocket.path_params["session_id"]
    token, subprotocol = socket_token(websocket)
    access = await services.access(token, session_id)
    await websocket.accept(subprotocol)
    if access is Access.NONE:
        await websocket.close(CLOSE_UNAUTHORIZED, "missing or invalid token")
        return
    if access is Access.EXPIRED:
        await websocket.close(CLOSE_UNAUTHORIZED, "this candidate token expired with its session")
        return
    if access not in (Access.CANDIDATE, Access.ADMIN):
        await websocket.close(CLOSE_FORBIDDEN, "this token may not act for this session")
        return
    link = CandidateSocketLink(websocket, services.settings.candidate.outbox_size, services.metrics)
    try:
        await services.registry.send(session_id, CandidateAttached(link))
    except (UnknownSession, SessionFailed, RegistryClosed) as exc:
        link.dispose()
        code, reason = _refusal(exc)
        await websocket.close(code, reason)
        return
    services.metrics.candidate_connections += 1
    code = 1006
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(link.run_writer)
            code = await _read_events(websocket, services, session_id, link)
            if link.closing:  # let the writer send the close frame, briefly
                tg.cancel_scope.deadline = anyio.current_time() + 1.0
            else:
                tg.cancel_scope.cancel()
    finally:
        services.metrics.candidate_connections -= 1
        with anyio.CancelScope(shield=True):
            try:
                await services.registry.send(session_id, CandidateDetached(link, code))
            except (UnknownSession, SessionFailed, RegistryClosed):
                pass  # nothing left to tell: the session is gone or the server is stopping


def _refusal(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, UnknownSession):
        return CLOSE_NOT_FOUND, "no such session"
    if isinstance(exc, SessionFailed):
        return CLOSE_FAILED, "session failed on the server"
    return CLOSE_GOING_AWAY, "server shutting down"


async def _read_events(
    websocket: WebSocket, services: Services, session_id: str, link: CandidateSocketLink
) -> int:
    """Read until the socket closes; return the close code."""
    receive = websocket.receive
    send = services.registry.send
    metrics = services.metrics
    max_event = services.settings.candidate.max_event_bytes
    max_frame = services.settings.candidate.max_frame_bytes
    vision = services.vision
    limits = services.settings.limits
    pace = RateLimiter(limits.candidate_events_per_second, limits.candidate_events_burst)
    guard, address = services.sockets, client_address(websocket)
    while True:
        message = await receive()
        received = time.perf_counter()
        if message["type"] == "websocket.disconnect":
            return int(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            frame = message.get("bytes") or b""
            if _frame_fits(link, metrics, frame, max_frame) and vision is not None:
                vision.submit(session_id, frame)
            continue
        size = _utf8_size(text, max_event)
        if size > max_event:
            too_big = f"event is {size} bytes; the limit is {max_event}"
            _reject(link, metrics, "too_large", too_big, seq=_seq_of(text))
            continue
        over = _over_limit(pace, guard, address, limits)
        if over is not None:
            _reject(link, metrics, "rate_limited", over, seq=_seq_of(text))
            continue
        try:
            event = CANDIDATE_EVENT_DECODER.decode(text)
        except msgspec.ValidationError as exc:
            _reject_invalid(link, metrics, text, exc)
            continue
        except msgspec.DecodeError as exc:
            _reject(link, metrics, "invalid_json", f"frame is not valid JSON: {exc}")
            continue
        except RecursionError:
            _reject(link, metrics, "invalid_json", TOO_DEEP)
            continue
        metrics.events_received += 1
        try:
            await send(session_id, CandidateEventIn(event, link, received))
        except (UnknownSession, SessionFailed, RegistryClosed) as exc:
            code, reason = _refusal(exc)
            link.close(code, reason)  # the writer sends the close; the client resends later
            return code


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
        _reject(
            link, metrics, "too_large", f"frame is {len(frame)} bytes; the limit is {max_frame}"
        )
        return False
    metrics.frames_received += 1
    return True


def _reject_invalid(
    link: CandidateSocketLink, metrics: Metrics, text: str, exc: msgspec.ValidationError
) -> None:
    field = validation_field(exc)
    seq = _seq_of(text)
    if field == "type":
        code, message = "unknown_type", f"unknown or missing event type: {exc}"
    else:
        code, message = "invalid_event", str(exc)
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
