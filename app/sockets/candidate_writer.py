"""The writing half of a candidate socket: acks coalesce into one number, control messages
queue in a small bounded deque, errors answering refused events in another, and one writer task
sends them in order."""

from __future__ import annotations

from collections import deque
from typing import Any, Final

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors import outbound
from actors.mailbox import Doorbell
from actors.protocol_codes import CLOSE_SLOW
from app.telemetry.metrics import Metrics

# Errors answering refused events that wait to be sent, at most. The reader refuses a burst of
# frames faster than the writer can answer them, so counting those answers as "not reading"
# disconnected clients that read (an SDK replaying a backlog past the rate limit). Past this
# many, the answers are dropped and counted instead: the frames stay unacknowledged, which is
# all a client needs to send them again.
MAX_PENDING_ERRORS: Final = 16


class CandidateSocketLink:
    """Implements `actors.ports.CandidateLink` over a Starlette WebSocket."""

    __slots__ = (
        "_ack",
        "_ack_due",
        "_bell",
        "_close",
        "_errors",
        "_limit",
        "_metrics",
        "_queue",
        "_websocket",
        "forwarding",
        "remote_address",
    )

    def __init__(self, websocket: WebSocket, outbox_size: int, metrics: Metrics) -> None:
        self._websocket = websocket
        self._metrics = metrics
        self._errors: deque[bytes] = deque()
        self.remote_address = websocket.client.host if websocket.client else None
        # What the connection said about proxies (app/sockets/forwarding.py), set by the socket.
        self.forwarding: dict[str, Any] = {}
        self._limit = outbox_size
        self._queue: deque[bytes] = deque()
        self._ack = 0
        self._ack_due = False
        self._close: tuple[int, str] | None = None
        # Ringing twice before the writer wakes costs nothing: it sends everything pending.
        self._bell = Doorbell()

    def ack(self, seq: int) -> None:
        # Not "if seq > self._ack": a duplicate event is acked again even if nothing is new.
        if seq >= self._ack:
            self._ack = seq
            self._ack_due = True
            self._ring()

    def push(self, message: bytes) -> None:
        if self._close is not None:
            return
        if len(self._queue) >= self._limit:
            # Overflow policy: a candidate that does not read its socket is disconnected;
            # its unacknowledged events stay with the client and are resent on reconnect.
            self.close(CLOSE_SLOW, "not reading its socket: too many unread messages")
            return
        self._queue.append(message)
        self._ring()

    def refuse(self, message: bytes) -> None:
        self._metrics.events_rejected += 1
        if self._close is not None:
            return
        if len(self._errors) >= MAX_PENDING_ERRORS:
            self._metrics.error_replies_dropped += 1
            return
        self._errors.append(message)
        self._ring()

    @property
    def closing(self) -> bool:
        return self._close is not None

    def close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self._ring()

    def dispose(self) -> None:
        """Release the doorbell when the writer never ran (the socket was refused)."""
        self._bell.close()

    def _ring(self) -> None:
        self._bell.ring()

    async def run_writer(self) -> None:
        send = self._websocket.send
        try:
            while True:
                await self._bell.wait()
                while self._queue:
                    await send({"type": "websocket.send", "text": self._queue.popleft().decode()})
                while self._errors:
                    await send({"type": "websocket.send", "text": self._errors.popleft().decode()})
                if self._ack_due:
                    self._ack_due = False
                    ack = outbound.encode(outbound.Ack(self._ack)).decode()
                    await send({"type": "websocket.send", "text": ack})
                if self._close is not None:
                    code, reason = self._close
                    await self._websocket.close(code, reason)
                    return
        except (WebSocketDisconnect, anyio.EndOfStream):
            return  # the candidate went away; the reader sees it and detaches
        except RuntimeError as exc:
            if not closed_under_us(exc):
                raise
        finally:
            self._bell.close()


def closed_under_us(exc: RuntimeError) -> bool:
    """uvicorn closes a socket by itself on a protocol error (1007 bad UTF-8, 1009 too big) or a
    keepalive timeout, and then answers the app's next send or close with this RuntimeError
    rather than a disconnect (Kludex/uvicorn#2332). Racing such a close with one of ours (4408,
    4409) made "Exception in ASGI application" tracebacks at will. The client is gone anyway."""
    return "after sending 'websocket.close'" in str(exc)
