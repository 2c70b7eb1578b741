"""Who may open a socket, and how fast one client address may send: browsers from the allowed
origins only (`[server] allowed_origins`; empty allows any, since the candidate SDK runs on
integrators' own sites), at most `[limits] max_sockets_per_address` open sockets per client
address, and at most `[limits] address_events_per_second` text events from all the candidate
sockets of one address together (0: no limit for either; behind a reverse proxy every socket
shares the proxy's address)."""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from starlette.websockets import WebSocket

from actors.protocol_codes import CLOSE_FORBIDDEN, CLOSE_TOO_MANY
from app.access.ratelimit import RateLimiter


class SocketGuard:
    def __init__(
        self,
        allowed_origins: list[str],
        max_per_address: int,
        events_per_second: float = 0.0,
        events_burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)
        self.max_per_address = max_per_address
        self._open: Counter[str] = Counter()
        # One bucket per address that sent events. Memory stays bounded by the addresses with a
        # socket open: an address's bucket is dropped once its last socket has closed and the
        # bucket would have refilled anyway. Dropping it at once would let a client refill it
        # by reconnecting.
        self.events = RateLimiter(events_per_second, events_burst, clock)
        self._clock = clock
        self._closed: OrderedDict[str, float] = OrderedDict()  # address -> when to drop, in order
        self.open_total = 0
        self.closed_total = 0  # since start: the garbage collector's pacer watches the churn

    def refusal(self, websocket: WebSocket) -> tuple[int, str] | None:
        """Why this socket may not open (close code, reason), or None."""
        origin = websocket.headers.get("origin")
        # A socket without an Origin is no browser's: a page elsewhere cannot make one.
        if origin is not None and self.allowed_origins and origin not in self.allowed_origins:
            return (
                CLOSE_FORBIDDEN,
                f"origin {origin} is not allowed here ([server] allowed_origins)",
            )
        address = client_address(websocket)
        if self.max_per_address and self._open[address] >= self.max_per_address:
            return (
                CLOSE_TOO_MANY,
                f"too many sockets from {address}: at most {self.max_per_address}",
            )
        return None

    @contextmanager
    def held(self, websocket: WebSocket) -> Iterator[None]:
        """Count the socket against its address while it is open."""
        address = client_address(websocket)
        self._open[address] += 1
        self.open_total += 1
        self._closed.pop(address, None)
        self._drop_refilled()
        try:
            yield
        finally:
            self._open[address] -= 1
            self.open_total -= 1
            self.closed_total += 1
            if not self._open[address]:
                del self._open[address]
                if self.events.rate:
                    self._closed[address] = self._clock() + self.events.refill_seconds
            self._drop_refilled()

    def take_event(self, address: str) -> float:
        """0.0 if one more event from `address` may go ahead, else the seconds to wait."""
        return self.events.take(address)

    def open_count(self, address: str) -> int:
        return self._open[address]

    @asynccontextmanager
    async def admitted(self, websocket: WebSocket) -> AsyncIterator[bool]:
        """True, and the socket counted while open; or False once it has been closed with
        the reason it may not open."""
        refusal = self.refusal(websocket)
        if refusal is not None:
            await websocket.accept()
            await websocket.close(*refusal)
            yield False
            return
        with self.held(websocket):
            yield True

    def _drop_refilled(self) -> None:
        # Every address waits the same refill time, so the oldest entry is the first due.
        now = self._clock()
        while self._closed:
            address, due = next(iter(self._closed.items()))
            if due > now:
                return
            del self._closed[address]
            self.events.forget(address)


def client_address(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "unknown"
