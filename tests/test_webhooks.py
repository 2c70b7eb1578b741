"""Webhooks against a real HTTP receiver (a uvicorn app on a free port) that fails on purpose:
every webhook arrives, signed, in order per session, after 500s, a timeout and a server restart;
a private address is refused unless allowed; the delivery log says what happened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.settings.webhooks import WebhooksSettings
from app.webhooks.destination import pinned
from app.webhooks.service import WebhookConfigError, endpoint_secrets
from app.webhooks.signing import SIGNATURE_HEADER, signature, verify
from tests.support import RunningServer, eventually, running_server, serving

pytestmark = pytest.mark.anyio
SECRET = "a webhook secret of some length"


@dataclass
class Receiver:
    """Answers `plan` in turn (a status, or "slow" for longer than the sender waits), then 200."""

    plan: list[int | str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    bad_signatures: int = 0
    url: str = ""

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.attempts += 1
        if not verify(SECRET.encode(), request.headers.get(SIGNATURE_HEADER, ""), body):
            self.bad_signatures += 1
            return Response(status_code=401)
        answer = self.plan.pop(0) if self.plan else 200
        if answer == "slow":
            await anyio.sleep(2.0)
            answer = 200
        if answer == 200:
            self.received.append(msgspec.json.decode(body))
        return Response(status_code=int(answer))

    def kinds(self) -> list[str]:
        return [hook["type"] for hook in self.received]


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    async with serving(config) as port:
        receiver.url = f"http://127.0.0.1:{port}/hook"
        yield receiver


def webhook_settings(url: str, **more: Any) -> dict[str, Any]:
    return {
        "endpoints": [
            {
                "name": "lms",
                "url": url,
                "secret_env": "VIGIL_TEST_WEBHOOK_SECRET",
                "min_alert_severity": "high",
            }
        ],
        "allow_private": True,
        "timeout_seconds": 0.5,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 1.0,
        "poll_seconds": 0.05,
        **more,
    }


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_TEST_WEBHOOK_SECRET", SECRET)


async def intervene(server: RunningServer, session_id: str, action: str) -> None:
    async with server.admin() as admin:
        await admin.send(
            {"type": "intervene", "sessionId": session_id, "action": action, "message": "Eyes"}
        )
        reply, _ = await admin.recv_until(lambda m: m.get("type") in ("intervened", "error"))
        assert reply["type"] == "intervened", reply


async def submit(server: RunningServer, session_id: str, status: int = 200) -> None:
    async with server.http() as client:
        answer = await client.post(f"/candidate-sessions/{session_id}/submit", json={"answers": []})
        assert answer.status_code == status, answer.text


async def test_every_webhook_arrives_signed_in_order_after_failures(tmp_path: Path) -> None:
    async with receiving(Receiver(plan=[500, 503, "slow", 500])) as receiver:
        async with running_server(tmp_path, webhooks=webhook_settings(receiver.url)) as server:
            first, token = await server.create_session()
            second, _ = await server.create_session(name="Grace Hopper")
            async with server.candidate(first, token) as candidate:
                await candidate.event(1, "inspect_element_opened")  # HIGH: an alert.raised
                await candidate.acked(1)
            await intervene(server, first, "warn")
            await intervene(server, second, "pause")
            await submit(server, first)
            await submit(server, second)
            await submit(server, first, status=409)  # refused: no second session.completed
            await eventually(lambda: len({h["id"] for h in receiver.received}) >= 6, timeout=20)
            async with server.http() as client:
                log = (await client.get("/webhooks/deliveries", params={"limit": 50})).json()
                page = await client.get("/webhooks/deliveries", params={"limit": 2})
        assert page.headers["x-next-cursor"] == str(page.json()[-1]["id"])
    assert receiver.bad_signatures == 0
    # At least once: the delivery the sender gave up on (the slow answer) still arrived, late;
    # a receiver dedupes by id.
    seen: set[str] = set()
    unique = []
    for hook in receiver.received:
        if hook["id"] not in seen:
            seen.add(hook["id"])
            unique.append(hook)
    assert len(unique) == 6 and len(receiver.received) - len(unique) <= 1
    by_session: dict[str, list[str]] = {}
    for hook in unique:
        by_session.setdefault(hook["sessionId"], []).append(hook["type"])
    assert by_session[first] == ["alert.raised", "intervention", "session.completed"]
    # The pause is an intervention, and its alert (high) an alert.raised.
    assert by_session[second] == ["intervention", "alert.raised", "session.completed"]
    offsets = [hook["offset"] for hook in unique if hook["sessionId"] == first]
    assert offsets == sorted(offsets)
    outcomes = [row["outcome"] for row in reversed(log)]
    assert outcomes[:4] == ["failed"] * 4 and outcomes.count("delivered") == 6
    assert {row["error"] for row in log if row["outcome"] == "failed"} >= {"answered 500"}
    completed = next(h for h in unique if h["type"] == "session.completed")
    assert completed["data"]["reason"] == "submitted"


async def test_deliveries_resume_after_a_restart(tmp_path: Path) -> None:
    down = Receiver(plan=[503] * 1000)
    async with receiving(down) as receiver:
        settings = webhook_settings(receiver.url)
        async with running_server(tmp_path, webhooks=settings) as server:
            session_id, _ = await server.create_session()
            await submit(server, session_id)
            await eventually(lambda: receiver.attempts >= 2, timeout=10)
        assert receiver.received == []
        receiver.plan.clear()  # back up
        async with running_server(tmp_path, webhooks=settings):
            await eventually(lambda: receiver.kinds() == ["session.completed"], timeout=10)
    assert receiver.received[0]["sessionId"] == session_id


async def test_a_private_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    async with receiving(Receiver()) as receiver:
        settings = webhook_settings(receiver.url, allow_private=False)
        async with running_server(tmp_path, webhooks=settings) as server:
            session_id, _ = await server.create_session()
            await submit(server, session_id)
            async with server.http() as client:

                async def refused() -> list[dict[str, Any]]:
                    rows = (await client.get("/webhooks/deliveries")).json()
                    return [row for row in rows if row["outcome"] == "refused"]

                with anyio.fail_after(10):
                    while not await refused():
                        await anyio.sleep(0.05)
                [row] = (await refused())[:1]
        assert "127.0.0.1" in row["error"] and "allow_private" in row["error"]
    assert receiver.attempts == 0


def test_a_missing_or_short_secret_stops_the_start() -> None:
    settings = msgspec.convert(webhook_settings("https://lms.example.org/hook"), WebhooksSettings)
    with pytest.raises(WebhookConfigError, match="VIGIL_TEST_WEBHOOK_SECRET"):
        endpoint_secrets(settings, environ={})
    with pytest.raises(WebhookConfigError, match="at least 16 bytes"):
        endpoint_secrets(settings, environ={"VIGIL_TEST_WEBHOOK_SECRET": "short"})
    assert endpoint_secrets(settings, environ={"VIGIL_TEST_WEBHOOK_SECRET": SECRET}) == {
        "lms": SECRET.encode()
    }


def test_the_signature_covers_the_time_and_the_body() -> None:
    header = signature(b"k" * 16, 1_700_000_000, b'{"a":1}')
    assert verify(b"k" * 16, header, b'{"a":1}')
    assert not verify(b"k" * 16, header, b'{"a":2}')
    assert not verify(b"x" * 16, header, b'{"a":1}')
    assert not verify(b"k" * 16, header.replace("t=1700000000", "t=1700000001"), b'{"a":1}')


def test_a_checked_address_is_the_one_connected_to() -> None:
    """DNS rebinding: the name is resolved once, checked, and the delivery goes to that
    address, the name moving to the Host header and the TLS server name."""
    v4 = pinned(urlsplit("https://hooks.example.com:8443/in?x=1"), ip_address("93.184.216.34"))
    assert v4.url == "https://93.184.216.34:8443/in?x=1"
    assert v4.host_header == "hooks.example.com:8443"
    assert v4.extensions() == {"sni_hostname": "hooks.example.com"}
    v6 = pinned(urlsplit("http://hooks.example.com/in"), ip_address("2606:2800:220:1::1"))
    assert v6.url == "http://[2606:2800:220:1::1]/in" and v6.host_header == "hooks.example.com"
    assert v6.extensions() == {}  # plain http: no server name to give


async def test_a_pinned_delivery_reaches_the_receiver_with_its_host_name() -> None:
    seen: list[str] = []

    async def hook(request: Request) -> Response:
        seen.append(request.headers["host"])
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serving(uvicorn.Config(app, log_level="warning", lifespan="off")) as port:
        destination = pinned(urlsplit(f"http://localhost:{port}/hook"), ip_address("127.0.0.1"))
        assert destination.url == f"http://127.0.0.1:{port}/hook"
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                destination.url,
                headers={"host": destination.host_header or ""},
                extensions=destination.extensions(),
            )
    assert answer.status_code == 204 and seen == [f"localhost:{port}"]
