"""The socket writers when uvicorn has already closed the socket under them (1007, 1009, a
keepalive timeout) and one of our closes races it: the writer ends quietly. Found by the soak
test (tests/test_soak.py), where it logged "Exception in ASGI application"."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from app.access.gate import Principal
from app.access.tokens import Access
from app.sockets.admin import AdminConnection
from app.sockets.candidate_writer import CandidateSocketLink
from app.telemetry.metrics import Metrics

pytestmark = pytest.mark.anyio

ALREADY_CLOSED = "Unexpected ASGI message 'websocket.close', after sending 'websocket.close'."


class ClosedUnderUs:
    """What uvicorn's websockets-sansio protocol does once it has closed the socket itself."""

    client = None

    def __init__(self, error: str = ALREADY_CLOSED) -> None:
        self.error = error

    async def send(self, message: Any) -> None:
        raise RuntimeError(
            self.error.replace("'websocket.close', after", f"'{message['type']}', after")
        )

    async def close(self, code: int, reason: str) -> None:
        raise RuntimeError(self.error)


async def test_a_candidate_writer_ends_quietly_on_a_socket_uvicorn_closed() -> None:
    link = CandidateSocketLink(ClosedUnderUs(), 8, Metrics())  # type: ignore[arg-type]
    link.close(4409, "replaced by a newer connection")
    with anyio.fail_after(5):
        await link.run_writer()
    queued = CandidateSocketLink(ClosedUnderUs(), 8, Metrics())  # type: ignore[arg-type]
    queued.push(b'{"type":"error"}')
    with anyio.fail_after(5):
        await queued.run_writer()


async def test_an_admin_writer_ends_quietly_on_a_socket_uvicorn_closed() -> None:
    connection = AdminConnection(
        ClosedUnderUs(),  # type: ignore[arg-type]
        8,
        Principal(Access.ADMIN, "t"),
        None,
        "t",
    )
    connection.evict("too slow: outbox full")
    with anyio.fail_after(5):
        await connection.run_writer()


async def test_other_runtime_errors_still_surface() -> None:
    link = CandidateSocketLink(ClosedUnderUs("something else broke"), 8, Metrics())  # type: ignore[arg-type]
    link.close(4409, "replaced")
    with pytest.raises(RuntimeError, match="something else"):
        await link.run_writer()
