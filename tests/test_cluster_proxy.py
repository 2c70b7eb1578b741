"""A plain round-robin proxy in front of two nodes (issue 27): Debian's nginx, with no routing
by session id. Sessions are created through it on whichever node it picks, and every candidate,
connecting through it, reaches its session's node (following `moved` as the SDK does) with
nothing lost; each session's REST calls through it are answered by its owner."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.kafka_support import Broker
from tests.support import ADMIN_TOKEN, TS, RunningServer, free_port
from tests.test_cluster import nodes

pytestmark = pytest.mark.anyio
NGINX = Path("/usr/sbin/nginx")

CONFIG = """
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream vigil {{ {servers} }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://vigil;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


def start_nginx(root: Path, servers: list[RunningServer]) -> tuple[subprocess.Popen[bytes], int]:
    assert NGINX.exists(), "this test needs Debian's nginx: run `make test`, which installs it"
    root.mkdir()
    port = free_port()
    upstream = " ".join(f"server {s.url.removeprefix('http://')};" for s in servers)
    (root / "nginx.conf").write_text(CONFIG.format(root=root, servers=upstream, port=port))
    process = subprocess.Popen(
        [str(NGINX), "-p", str(root), "-c", str(root / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


@asynccontextmanager
async def round_robin(root: Path, servers: list[RunningServer]) -> AsyncIterator[str]:
    process, port = start_nginx(root, servers)
    try:
        url = f"http://127.0.0.1:{port}"
        with anyio.fail_after(10):
            while True:
                try:
                    async with httpx.AsyncClient() as client:
                        if (await client.get(f"{url}/healthz")).status_code == 200:
                            break
                except httpx.HTTPError:
                    await anyio.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def leftover(ws: ClientConnection) -> list[dict[str, Any]]:
    """What the server sent before it closed the socket."""
    found = []
    try:
        while True:
            found.append(json.loads(await ws.recv()))
    except ConnectionClosed:
        return found


async def take_exam(base: str, session_id: str, token: str, events: int) -> int:
    """Send `events` events as the SDK would: through the address given, following `moved`,
    resending whatever was not acknowledged; return how many connections it took."""
    acked, connections = 0, 0
    while acked < events:
        connections += 1
        assert connections <= 4, "moved from node to node"
        ws_base = base.replace("http://", "ws://")
        async with connect(f"{ws_base}/ws/candidate/{session_id}?token={token}") as ws:
            try:
                for seq in range(acked + 1, events + 1):
                    await ws.send(json.dumps({"type": "heartbeat", "seq": seq, "ts": TS}))
                with anyio.fail_after(10):
                    while acked < events:
                        message = json.loads(await ws.recv())
                        if message["type"] == "moved":
                            base = message["url"]
                        elif message["type"] == "ack":
                            acked = max(acked, message["seq"])
            except ConnectionClosed:
                assert ws.close_code == 4307, ws.close_code
                moved = [m["url"] for m in await leftover(ws) if m["type"] == "moved"]
                base = moved[0] if moved else base
    return connections


async def test_a_plain_round_robin_proxy_serves_every_candidate(
    tmp_path: Path, broker: Broker
) -> None:
    async with nodes(tmp_path, broker, "a", "b") as servers:
        async with round_robin(tmp_path / "nginx", servers) as proxy:
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with httpx.AsyncClient(base_url=proxy, headers=headers) as client:
                sessions = []
                for n in range(6):
                    body = {"candidateEmail": "r@example.com", "candidateName": f"R{n}",
                            "assessmentId": "rr"}  # fmt: skip
                    created = await client.post("/candidate-sessions", json=body)
                    assert created.status_code == 201, created.text
                    sessions.append((created.json()["id"], created.json()["candidateToken"]))
                assert {s[:2] for s, _ in sessions} == {"a-", "b-"}  # the proxy spread them
                # nginx takes turns per request: one more shifts every candidate to the node
                # that did not create its session.
                assert (await client.get("/healthz")).status_code == 200
                connections = [await take_exam(proxy, s, t, 30) for s, t in sessions]
                assert max(connections) == 2  # some reached the wrong node first
                for session_id, _ in sessions:  # answered by the owner, wherever they landed
                    for _ in range(2):
                        got = await client.get(f"/candidate-sessions/{session_id}")
                        assert got.status_code == 200, got.text
        for session_id, _ in sessions:
            owner = servers[0] if session_id.startswith("a-") else servers[1]
            stored = await owner.services.store.events(session_id)
            seqs = [e.seq for e in stored if e.origin == "candidate"]
            assert seqs == list(range(1, 31)), (session_id, seqs)  # each once, in order
