"""Shared test machinery: a real uvicorn on a free port in the test's event loop, real
WebSocket and HTTP clients, and a server in a subprocess for crash tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from app.server import Running, build_app
from app.settings import Settings, load_settings

ADMIN_TOKEN = "test-admin-token"
TS = "2026-11-22T10:00:00.000Z"
REPO = Path(__file__).resolve().parent.parent


# A fixed master key for tests that build the journal or store themselves (32 bytes, base64).
TEST_MASTER_KEY = "dmlnaWwtdGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The int8 object model, made once for every test server of a run (and kept for the next run)
# rather than once per storage folder.
MODEL_CACHE = Path(tempfile.gettempdir()) / f"vigil-test-models-{os.getuid()}"


def settings_for(storage: Path, **sections: Mapping[str, Any]) -> Settings:
    overrides: dict[str, dict[str, Any]] = {
        "storage": {"dir": str(storage)},
        "auth": {"admin_token": ADMIN_TOKEN},
        "server": {"log_level": "warning", "shutdown_grace_seconds": 5.0},
        # Each server would start analysing processes; the vision tests turn them on.
        "vision": {"enabled": False, "model_cache": str(MODEL_CACHE)},
        # The demo's shipped escalation intervenes; tests that count scores opt in to it.
        "demo": {"escalation": "global"},
    }
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return load_settings(environ={}, overrides=overrides)


@dataclass
class RunningServer:
    url: str
    ws_url: str
    settings: Settings
    app: Any
    services: Running  # what the server's lifespan started, to look inside

    def http(self, token: str | None = ADMIN_TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    async def create_session(
        self, assessment_id: str = "exam-1", name: str = "Ada Lovelace"
    ) -> tuple[str, str]:
        async with self.http() as client:
            response = await client.post(
                "/candidate-sessions",
                json={
                    "candidateEmail": "ada@example.com",
                    "candidateName": name,
                    "assessmentId": assessment_id,
                },
            )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["candidateToken"]

    @asynccontextmanager
    async def candidate(
        self, session_id: str, token: str, source: str = "127.0.0.1"
    ) -> AsyncIterator[Peer]:
        """`source`: the client's address; any 127.x.y.z reaches the server as another IP."""
        url = f"{self.ws_url}/ws/candidate/{session_id}?token={token}"
        async with connect(url, local_addr=(source, 0)) as ws:
            yield Peer(ws)

    @asynccontextmanager
    async def admin(self, token: str = ADMIN_TOKEN) -> AsyncIterator[Peer]:
        async with connect(f"{self.ws_url}/ws/admin?token={token}", max_queue=None) as ws:
            yield Peer(ws)


class Peer:
    """A real WebSocket client with JSON helpers; every wait has a timeout."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def event(self, seq: int, type: str = "heartbeat", **fields: Any) -> None:
        await self.send({"type": type, "seq": seq, "ts": TS, **fields})

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            message = json.loads(await self.ws.recv())
        assert isinstance(message, dict)
        return message

    async def recv_until(
        self, predicate: Any, timeout: float = 5.0
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Read until a message matches; return it and the ones skipped on the way."""
        skipped: list[dict[str, Any]] = []
        with anyio.fail_after(timeout):
            while True:
                message = await self.recv(timeout)
                if predicate(message):
                    return message, skipped
                skipped.append(message)

    async def acked(self, seq: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        _, skipped = await self.recv_until(
            lambda m: m.get("type") == "ack" and m["seq"] >= seq, timeout
        )
        return skipped

    async def subscribe(self, channel: str) -> dict[str, Any]:
        await self.send({"type": "subscribe", "channel": channel})
        snapshot, _ = await self.recv_until(lambda m: m.get("type") in ("snapshot", "error"))
        return snapshot

    async def closed_code(self, timeout: float = 5.0) -> int:
        """Wait for the server to close the socket; return the close code."""
        with anyio.fail_after(timeout):
            try:
                while True:
                    await self.ws.recv()
            except Exception:
                pass
        assert self.ws.close_code is not None
        return self.ws.close_code


async def eventually(check: Any, timeout: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy (a condition, not a blind sleep)."""
    with anyio.fail_after(timeout):
        while True:
            result = check()
            if result:
                return result
            await anyio.sleep(0.01)


@asynccontextmanager
async def running_server(
    storage: Path, port: int = 0, **sections: Mapping[str, Any]
) -> AsyncIterator[RunningServer]:
    """`port`: 0, any free one; a cluster's node is given its own, to name in its public_url."""
    settings = settings_for(storage, **sections)
    started: list[Running] = []
    app = build_app(settings, started=started.append)
    config = uvicorn.Config(
        app,
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=settings.candidate.max_frame_bytes * 2,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    async with serving(config, port) as bound:
        yield RunningServer(
            f"http://127.0.0.1:{bound}", f"ws://127.0.0.1:{bound}", settings, app, started[0]
        )


@asynccontextmanager
async def serving(config: uvicorn.Config, port: int = 0) -> AsyncIterator[int]:
    """Serve `config`'s app in this task on a free loopback port, yielded once it listens; stop
    it on the way out and close its socket, also when the block failed (a leaked socket would
    fail the next test's setup)."""
    # IPPROTO_TCP spelled out: asyncio turns TCP_NODELAY on only for sockets that say so, and
    # without it every small answer waits ~40 ms for the client's delayed ack (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.01)
            try:
                yield sock.getsockname()[1]
            finally:
                server.should_exit = True
    finally:
        sock.close()


class ServerProcess:
    """`vigil serve` in a subprocess, for tests that kill it."""

    def __init__(
        self,
        storage: Path,
        port: int,
        extra_env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.storage = storage
        self.args = list(args)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.log = storage / "server.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")},
            "VIGIL_STORAGE_DIR": str(storage),
            "VIGIL_AUTH_ADMIN_TOKEN": ADMIN_TOKEN,
            "VIGIL_SERVER_PORT": str(port),
            "VIGIL_VISION_ENABLED": "false",
            "VIGIL_VISION_MODEL_CACHE": str(MODEL_CACHE),
            "VIGIL_MASTER_KEY": TEST_MASTER_KEY,
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.storage.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.commands.cli", "serve", *self.args],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(f"server did not start: {self.log.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
