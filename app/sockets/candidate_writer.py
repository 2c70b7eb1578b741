"""The writing half of a candidate socket: acks coalesce into one number, control messages
queue in a small bounded deque, and one writer task sends them in order."""

from __future__ import annotations

from collections import deque

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors import outbound
from actors.mailbox import Doorbell
from actors.protocol_codes import CLOSE_SLOW


class CandidateSocketLink:
    """Implements `actors.ports.CandidateLink` over a Starlette WebSocket."""

    __slots__ = (
        "_ack",
        "_ack_due",
        "_bell",
        "_close",
        "_limit",
        "_queue",
        "_websocket",
        "remote_address",
    )

    def __init__(self, websocket: WebSocket, outbox_size: int) -> None:
        self._websocket = websocket
        self.remote_address = websocket.client.host if websocket.client else None
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
