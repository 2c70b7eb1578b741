"""Socket limits: events per candidate socket, sockets per address, and the browsers' origins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.access.socket_guard import SocketGuard
from tests.support import ADMIN_TOKEN, eventually, running_server

pytestmark = pytest.mark.anyio


async def closed_with(url: str, **options: object) -> int | None:
    """The code the server closes a refused socket with."""
    async with connect(url, **options) as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed):
            await ws.recv(decode=True)
    return ws.close_code


async def test_a_candidate_over_its_event_rate_is_refused_not_stored(tmp_path: Path) -> None:
    limits = {"candidate_events_per_second": 1.0, "candidate_events_burst": 5}
    async with running_server(tmp_path, limits=limits) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            for seq in range(1, 9):
                await candidate.event(seq)
            refused, acked = [], 0
            while len(refused) < 3 or acked < 5:  # the refusals come before the commit's ack
                message = await candidate.recv()
                if message["type"] == "error":
                    refused.append(message)
                elif message["type"] == "ack":
                    acked = message["seq"]
        assert [m["code"] for m in refused] == ["rate_limited"] * 3
        assert [m["seq"] for m in refused] == [6, 7, 8]  # the client knows what to resend
        assert "not stored" in refused[0]["message"]
        stored = await server.services.store.events(session_id)
        assert [e.seq for e in stored if e.seq is not None] == [1, 2, 3, 4, 5]


async def test_events_per_address_are_limited_across_its_sockets(tmp_path: Path) -> None:
    limits = {"address_events_per_second": 0.5, "address_events_burst": 4}
    async with running_server(tmp_path, limits=limits) as server:
        first_id, first_token = await server.create_session()
        second_id, second_token = await server.create_session()
        third_id, third_token = await server.create_session()
        async with (
            server.candidate(first_id, first_token) as first,
            server.candidate(second_id, second_token) as second,
        ):
            for seq in (1, 2, 3):
                await first.event(seq)
            await first.acked(3)
            await second.event(1)
            await second.acked(1)
            await second.event(2)  # the fifth from 127.0.0.1: each socket is far below its own
            refused, _ = await second.recv_until(lambda m: m["type"] == "error")
            # Another address has its own bucket.
            async with server.candidate(third_id, third_token, source="127.0.0.2") as third:
                await third.event(1)
                await third.acked(1)
        assert refused["code"] == "rate_limited" and refused["seq"] == 2
        assert "from 127.0.0.1, all its sockets together" in refused["message"]
        assert "address_events_per_second" in refused["message"]
        stored = [e.seq for e in await server.services.store.events(second_id) if e.seq]
        assert stored == [1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fake_socket(host: str) -> WebSocket:
    async def never(*_: Any) -> Any:
        raise AssertionError("not used")

    scope = {"type": "websocket", "client": (host, 5000), "headers": [], "path": "/"}
    return WebSocket(scope, never, never)


def test_an_address_bucket_outlives_its_sockets_only_until_it_refills() -> None:
    clock = FakeClock()
    guard = SocketGuard([], 0, events_per_second=2.0, events_burst=4, clock=clock)
    with guard.held(fake_socket("10.0.0.1")):
        assert [guard.take_event("10.0.0.1") for _ in range(4)] == [0.0] * 4
        assert guard.take_event("10.0.0.1") > 0
    # Closed with an empty bucket: reconnecting at once does not refill it.
    with guard.held(fake_socket("10.0.0.1")):
        assert guard.take_event("10.0.0.1") > 0
    assert len(guard.events) == 1
    clock.now += 2.0  # burst / rate: it would be full again, so it is dropped
    with guard.held(fake_socket("10.0.0.2")):
        assert len(guard.events) == 0
        assert guard.take_event("10.0.0.2") == 0.0
    clock.now += 2.0
    with guard.held(fake_socket("10.0.0.3")):  # sockets that sent nothing leave nothing
        pass
    assert len(guard.events) == 0
    assert guard.open_count("10.0.0.1") == 0


def test_no_address_limit_keeps_no_buckets() -> None:
    guard = SocketGuard([], 0)
    for index in range(100):
        with guard.held(fake_socket(f"10.0.1.{index}")):
            assert guard.take_event(f"10.0.1.{index}") == 0.0
    assert len(guard.events) == 0


async def test_sockets_per_address_are_limited(tmp_path: Path) -> None:
    async with running_server(tmp_path, limits={"max_sockets_per_address": 2}) as server:
        session_id, token = await server.create_session()
        other_id, other_token = await server.create_session()
        admin_url = f"{server.ws_url}/ws/admin?token={ADMIN_TOKEN}"
        async with server.admin(), server.candidate(session_id, token):
            assert await closed_with(admin_url) == 4429  # a third from 127.0.0.1
            # Another address has its own count.
            async with server.candidate(other_id, other_token, source="127.0.0.2") as other:
                await other.event(1)
                await other.acked(1)
        guard = server.services.sockets
        assert guard is not None
        await eventually(lambda: guard.open_count("127.0.0.1") == 0)
        async with server.admin() as admin:  # room again
            snapshot = await admin.subscribe("alerts")
            assert snapshot["type"] == "snapshot"


async def test_only_allowed_origins_may_open_sockets(tmp_path: Path) -> None:
    server_settings = {"allowed_origins": ["https://exam.example.edu"]}
    async with running_server(tmp_path, server=server_settings) as server:
        url = f"{server.ws_url}/ws/admin?token={ADMIN_TOKEN}"
        assert await closed_with(url, origin="https://evil.example.com") == 4403
        async with connect(url, origin="https://exam.example.edu") as allowed:
            await allowed.send('{"type":"subscribe","channel":"alerts"}')
            assert "snapshot" in await allowed.recv(decode=True)
        async with server.admin() as no_browser:  # no Origin header: not a browser's page
            assert (await no_browser.subscribe("alerts"))["type"] == "snapshot"
