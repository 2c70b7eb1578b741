"""Where a WebSocket's token comes from: `?token=` (CONTRACT.md section 2), or, so that browsers
need not put it in the URL (which proxies and servers log), the subprotocol
`vigil.token.<token>` offered beside `vigil`. The server then accepts with `vigil`: a browser
requires the chosen subprotocol to be one it offered, and the token is never echoed."""

from __future__ import annotations

from typing import Final

from starlette.websockets import WebSocket

SUBPROTOCOL: Final = "vigil"
TOKEN_PREFIX: Final = "vigil.token."


def socket_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """(the token, the subprotocol to accept with). A subprotocol token wins over the query's."""
    offered: list[str] = list(websocket.scope.get("subprotocols") or ())
    for protocol in offered:
        if protocol.startswith(TOKEN_PREFIX):
            return protocol[len(TOKEN_PREFIX) :], SUBPROTOCOL
    chosen = SUBPROTOCOL if SUBPROTOCOL in offered else None
    return websocket.query_params.get("token"), chosen
