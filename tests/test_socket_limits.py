"""Socket limits: events per candidate socket, sockets per address, and the browsers' origins."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

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
            refused = []
            while len(refused) < 3:
                message = await candidate.recv()
                if message["type"] == "error":
                    refused.append(message)
        assert [m["code"] for m in refused] == ["rate_limited"] * 3
        assert [m["seq"] for m in refused] == [6, 7, 8]  # the client knows what to resend
        assert "not stored" in refused[0]["message"]
        stored = await server.services.store.events(session_id)
        assert [e.seq for e in stored if e.seq is not None] == [1, 2, 3, 4, 5]


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
