"""Who may open a socket: browsers from the allowed origins only (`[server] allowed_origins`;
empty allows any, since the candidate SDK runs on integrators' own sites), and at most
`[limits] max_sockets_per_address` open sockets per client address (0: no limit; behind a
reverse proxy every socket shares the proxy's address)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Final

from starlette.websockets import WebSocket

CLOSE_ORIGIN: Final = 4403
CLOSE_TOO_MANY: Final = 4429


class SocketGuard:
    def __init__(self, allowed_origins: list[str], max_per_address: int) -> None:
        self.allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)
        self.max_per_address = max_per_address
        self._open: Counter[str] = Counter()

    def refusal(self, websocket: WebSocket) -> tuple[int, str] | None:
        """Why this socket may not open (close code, reason), or None."""
        origin = websocket.headers.get("origin")
        # A socket without an Origin is no browser's: a page elsewhere cannot make one.
        if origin is not None and self.allowed_origins and origin not in self.allowed_origins:
            return CLOSE_ORIGIN, f"origin {origin} is not allowed here ([server] allowed_origins)"
        address = _address(websocket)
        if self.max_per_address and self._open[address] >= self.max_per_address:
            return (
                CLOSE_TOO_MANY,
                f"too many sockets from {address}: at most {self.max_per_address}",
            )
        return None

    @contextmanager
    def held(self, websocket: WebSocket) -> Iterator[None]:
        """Count the socket against its address while it is open."""
        address = _address(websocket)
        self._open[address] += 1
        try:
            yield
        finally:
            self._open[address] -= 1
            if not self._open[address]:
                del self._open[address]

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


def _address(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "unknown"
