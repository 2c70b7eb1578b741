"""Soak (issue 8): a thousand misbehaving clients held on a real `vigil serve` for most of a
minute: garbage, oversized and deeply nested frames, floods past both event limits, sockets that
never read and then vanish, slowloris HTTP requests that never end, connect/disconnect churn with
bad, borrowed and forged tokens, malformed UTF-8, frames past the protocol limit, sockets past
the per-address limit, and admins subscribing past their limit. The server's memory must stay
flat after warm-up, a well-behaved client must still be served quickly, and a well-behaved
session's stored data must be exactly what it was."""

from __future__ import annotations

import asyncio
import json
import random
import resource
import socket
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support import ADMIN_TOKEN, TS, ServerProcess, free_port

pytestmark = pytest.mark.anyio

WARM_UP = 20.0  # seconds of misbehaviour before the first memory reading
MEASURED = 30.0  # seconds more, at the end of which memory is read again
# RSS growth allowed from after warm-up to the end: a one-off part and a part per connection
# made in the measured phase. Seen on a 2-core box (2026-11-23): the server's Python heap stays
# flat (allocated blocks within 0.5% over a 150 s run, after a full collection), but RSS rises
# once by ~17 MB as SQLite's page caches and the C allocator's arenas of the worker threads
# fill, at a moment that varies (within or after the measured phase), and then stays flat
# (183 MB for the last 50 s of a 150 s run); 5-10 MB in most 30 s runs. That jump is the one-off
# part. A connection holds ~200 objects, ~30 KB: 2 KB per connection fails a leak of one
# connection's objects in fifteen (the 40 MB flat bound this replaces let one in three pass).
ONE_OFF_RSS_GROWTH_MB = 24.0
RSS_GROWTH_PER_CONNECTION_KB = 2.0
# Seconds a new candidate may wait in all (create, connect, first ack) while the thousand
# misbehave: a check that the server still serves, not a speed target (those are benchmarks).
# Measured 0.4-4.0 s on a loaded, shared 2-core box; a server that stopped serving waits forever.
MAX_WAIT = 15.0

FLOODERS = 100  # valid events in bursts past both limits
GARBLERS = 300  # garbage, oversized and deep text frames, oversized binary frames
NON_READERS = 100  # candidate sockets that never read, then vanish without a close
ADMINS = 60  # subscribe past the limit, unsubscribe, again
ADMIN_NON_READERS = 40  # subscribe to busy channels and never read, then vanish
SLOWLORIS = 150  # HTTP requests whose headers never end
CHURNERS = 250  # connect and go, with every kind of bad credential
CLIENTS = FLOODERS + GARBLERS + NON_READERS + ADMINS + ADMIN_NON_READERS + SLOWLORIS + CHURNERS
MAX_SOCKETS_PER_ADDRESS = 40
CROWDED = "127.0.8.1"  # the non-readers fill this address to its socket limit
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
QUEUES = ["vigil_journal_queue_depth", "vigil_mailbox_depth_total", "vigil_live_sessions"]

ENV = {
    "VIGIL_SERVER_LOG_LEVEL": "warning",
    "VIGIL_LIMITS_CANDIDATE_EVENTS_PER_SECOND": "10",
    "VIGIL_LIMITS_CANDIDATE_EVENTS_BURST": "20",
    "VIGIL_LIMITS_ADDRESS_EVENTS_PER_SECOND": "60",
    "VIGIL_LIMITS_ADDRESS_EVENTS_BURST": "120",
    "VIGIL_LIMITS_MAX_SOCKETS_PER_ADDRESS": str(MAX_SOCKETS_PER_ADDRESS),
    "VIGIL_ADMIN_MAX_SUBSCRIPTIONS": "5",
    "VIGIL_ADMIN_OUTBOX_SIZE": "256",
    "VIGIL_CANDIDATE_MAX_EVENT_BYTES": "4096",
    "VIGIL_CANDIDATE_MAX_FRAME_BYTES": "16384",  # uvicorn closes past twice this (1009)
}
GARBAGE = [
    "", "{", "null", "[]", '"heartbeat"', "[" * 3000, '{"a":' * 2000,
    '{"type":"heartbeat"}', '{"type":"nope","seq":1,"ts":"' + TS + '"}',
    '{"type":"heartbeat","seq":"1","ts":1}', '{"type":"heartbeat","seq":1e400,"ts":"x"}',
    '{"type":"heartbeat","seq":' + "9" * 40 + ',"ts":"' + TS + '"}',
    '{"type":"focus_lost","seq":0,"ts":"' + TS + '","data":{"durationMs":"long"}}',
    '{"type":"answer_submitted","seq":-1,"ts":"' + TS + '","data":[1,2]}',
    '{"type":"intervene","sessionId":"x","action":"terminate"}', "x" * 5000,
]  # fmt: skip


@dataclass
class Soak:
    server: ServerProcess
    stop_at: float
    # One client for all: making one costs ~30 ms of CPU (its TLS context), enough to stall
    # the loop that drives a thousand sockets.
    http: httpx.AsyncClient
    seen: Counter[str] = field(default_factory=Counter)
    flooders: list[tuple[str, str]] = field(default_factory=list)
    others: list[tuple[str, str]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return time.monotonic() < self.stop_at

    def candidate_url(self, session_id: str, token: str) -> str:
        return f"{self.server.ws_url}/ws/candidate/{session_id}?token={token}"

    def admin_url(self, token: str = ADMIN_TOKEN) -> str:
        return f"{self.server.ws_url}/ws/admin?token={token}"

    def note(self, message: str | bytes) -> None:
        decoded = json.loads(message)
        self.seen[decoded.get("code") or decoded["type"]] += 1


@asynccontextmanager
async def socket_to(
    url: str, source: str, *, receive_buffer: int | None = None
) -> AsyncIterator[ClientConnection]:
    options: dict[str, Any] = {"local_addr": (source, 0)}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if receive_buffer is not None:
            # A small window: a client that never reads fills the server's buffers in seconds.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.bind((source, 0))
            sock.setblocking(False)
            host, port = url.split("/")[2].split(":")
            with anyio.fail_after(10):
                await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
            options = {"sock": sock}
        async with connect(
            url, compression=None, proxy=None, ping_interval=None, close_timeout=1,
            open_timeout=10, max_size=None, **options,
        ) as ws:  # fmt: skip
            OPENED["sockets"] += 1
            yield ws


# Every WebSocket the soak opened, to bound the server's memory growth per connection.
OPENED: Counter[str] = Counter()


async def misbehave(soak: Soak, one_round: Callable[[], Awaitable[None]]) -> None:
    """Run rounds until the end; what the server does to a misbehaving client is counted."""
    while soak.running:
        try:
            await one_round()
        except ConnectionClosed as exc:
            soak.seen[f"close {exc.rcvd.code if exc.rcvd else 'abnormal'}"] += 1
        except InvalidStatus as exc:
            soak.seen[f"http {exc.response.status_code}"] += 1
        except (OSError, TimeoutError, httpx.TransportError) as exc:
            soak.seen[type(exc).__name__] += 1
        await anyio.sleep(0.05)


async def flooder(soak: Soak, session_id: str, token: str, source: str) -> None:
    next_seq = 1

    async def burst() -> None:
        nonlocal next_seq
        async with socket_to(soak.candidate_url(session_id, token), source) as ws:
            while soak.running:
                for seq in range(next_seq, next_seq + 30):
                    await ws.send(json.dumps({"type": "heartbeat", "seq": seq, "ts": TS}))
                with anyio.move_on_after(2.0):
                    while True:
                        message = json.loads(await ws.recv())
                        soak.note(json.dumps(message))
                        if message["type"] == "ack":
                            next_seq = max(next_seq, message["seq"] + 1)
                await anyio.sleep(2)

    await misbehave(soak, burst)


async def garbler(soak: Soak, session_id: str, token: str, source: str) -> None:
    rng = random.Random(session_id)

    async def garble() -> None:
        async with socket_to(soak.candidate_url(session_id, token), source) as ws:
            while soak.running:
                if rng.random() < 0.1:
                    await ws.send(b"\xff" * 20_000)  # a frame past max_frame_bytes
                else:
                    await ws.send(rng.choice(GARBAGE))
                with anyio.fail_after(10):
                    soak.note(await ws.recv())
                await anyio.sleep(rng.uniform(0.2, 0.6))

    await misbehave(soak, garble)


async def non_reader(
    soak: Soak, url: str, source: str, commands: list[str], pace: float = 0.3
) -> None:
    """Sends, never reads, and after a while vanishes without a closing handshake."""
    rng = random.Random(url + source)

    async def hold() -> None:
        async with socket_to(url, source, receive_buffer=4096) as ws:
            with anyio.move_on_after(rng.uniform(3, 12)):
                while soak.running:
                    await ws.send(rng.choice(commands))
                    await anyio.sleep(pace)
            ws.transport.abort()
            soak.seen["vanished"] += 1

    await misbehave(soak, hold)


async def admin(soak: Soak, source: str) -> None:
    rng = random.Random(source)
    channels = [f"session:{sid}" for sid, _ in soak.flooders[:20]] + ["alerts"]

    async def subscribe_past_the_limit() -> None:
        async with socket_to(soak.admin_url(), source) as ws:
            while soak.running:
                chosen = ["assessment:soak-flood", *rng.sample(channels, 7)]
                for channel in chosen:
                    await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                await ws.send(rng.choice(GARBAGE))
                await read_replies(soak, ws, len(chosen) + 1)
                for channel in chosen:
                    await ws.send(json.dumps({"type": "unsubscribe", "channel": channel}))
                await read_replies(soak, ws, len(chosen))
                await anyio.sleep(rng.uniform(3.0, 6.0))

    await misbehave(soak, subscribe_past_the_limit)


async def read_replies(soak: Soak, ws: ClientConnection, count: int) -> None:
    """Read until `count` answers to commands came, skipping the events of the channels."""
    with anyio.fail_after(15):
        while count:
            message = json.loads(await ws.recv())
            if message["type"] not in ("event", "alert"):
                soak.note(json.dumps(message))
                count -= 1


async def slowloris(soak: Soak, source: str) -> None:
    """An HTTP request whose headers never end: a byte every two seconds."""
    host, port = "127.0.0.1", soak.server.port

    async def trickle() -> None:
        async with await anyio.connect_tcp(host, port, local_host=source) as stream:
            await stream.send(b"GET /ws/admin?token=x HTTP/1.1\r\nHost: soak\r\n")
            soak.seen["slowloris"] += 1
            while soak.running:
                await anyio.sleep(2)
                await stream.send(b"X")

    await misbehave(soak, trickle)


async def churner(soak: Soak, index: int, good: tuple[str, str]) -> None:
    rng = random.Random(index)
    source = f"127.0.{20 + index % 50}.{1 + index % 200}"
    good_id, _ = good

    async def once() -> None:
        session_id, token = rng.choice(soak.others)
        action = rng.randrange(9)
        if action == 0:  # a forged token on the well-behaved session
            url = soak.candidate_url(good_id, "vct_" + "A" * 43)
        elif action == 1:  # another session's token on it
            url = soak.candidate_url(good_id, token)
        elif action == 2:
            url = soak.admin_url("not-the-admin-token")
        elif action == 3:
            url = soak.candidate_url(session_id, token)  # and straight away gone
        elif action == 4:  # an address already at its socket limit
            url, source_now = soak.candidate_url(session_id, token), CROWDED
        elif action in (5, 6):  # malformed UTF-8 text; a frame past the protocol limit
            url = soak.candidate_url(session_id, token)
        else:
            await bad_rest(soak, rng, good_id, token)
            return
        async with socket_to(url, source_now if action == 4 else source) as ws:
            if action == 5:
                await ws.send(b'{"type":"heartbeat","seq":1,"ts":"\xff\xfe"}', text=True)
            elif action == 6:
                await ws.send("x" * 40_000)
            if action in (0, 1, 2, 4, 5, 6):
                with anyio.fail_after(10):
                    await ws.recv()  # the server closes it: ConnectionClosed, counted
            soak.seen["churned"] += 1
        await anyio.sleep(rng.uniform(0.5, 1.5))

    await misbehave(soak, once)


async def bad_rest(soak: Soak, rng: random.Random, good_id: str, other_token: str) -> None:
    """A write to the well-behaved session: a forged or borrowed token, or a broken body."""
    token = rng.choice(["vct_forged", other_token, ADMIN_TOKEN])
    body = rng.choice([b"{", b'"\x8a"', b"[" * 3000, b"[]"])
    if token != ADMIN_TOKEN and rng.random() < 0.5:
        body = b'{"type":"X","severity":"LOW"}'  # valid: only the token stops it
    response = await soak.http.post(
        f"{soak.server.url}/candidate-sessions/{good_id}/violations",
        content=body,
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    soak.seen[f"http {response.status_code}"] += 1


async def create_sessions(
    server: ServerProcess, count: int, assessment: str
) -> list[tuple[str, str]]:
    created: list[tuple[str, str]] = []
    limiter = anyio.Semaphore(8)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:

        async def one(index: int) -> None:
            async with limiter:
                response = await client.post(
                    "/candidate-sessions",
                    json={"candidateEmail": f"c{index}@example.com", "candidateName": f"C {index}",
                          "assessmentId": assessment},
                )  # fmt: skip
            assert response.status_code == 201, response.text
            created.append((response.json()["id"], response.json()["candidateToken"]))

        async with anyio.create_task_group() as tg:
            for index in range(count):
                tg.start_soon(one, index)
    return created


async def well_behaved_session(server: ServerProcess) -> tuple[tuple[str, str], Any]:
    """A session with answers and violations, disconnected; what is stored for it."""
    (session_id, token), = await create_sessions(server, 1, "soak-good")  # fmt: skip
    url = f"{server.ws_url}/ws/candidate/{session_id}?token={token}"
    async with socket_to(url, "127.0.0.1") as ws:
        for seq in range(1, 31):
            event: dict[str, Any] = {"type": "question_viewed", "seq": seq, "ts": TS,
                                     "questionId": f"q{seq % 5}"}  # fmt: skip
            if seq % 3 == 0:
                event.update(type="answer_submitted", data={"response": "x", "timeSpent": 3})
            elif seq % 7 == 0:
                event["type"] = "tab_switch_detected"
            await ws.send(json.dumps(event))
        with anyio.fail_after(10):
            while json.loads(await ws.recv()).get("seq") != 30:
                pass
    return (session_id, token), await stored_when_settled(server, session_id)


async def stored_when_settled(server: ServerProcess, session_id: str) -> Any:
    """The session and its events, once its disconnection is recorded."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        with anyio.fail_after(15):
            while True:
                detail = (await client.get(f"/candidate-sessions/{session_id}")).json()
                if not detail["state"]["connected"]:
                    break
                await anyio.sleep(0.1)
        events = (await client.get(f"/candidate-sessions/{session_id}/events")).json()
    return detail, events


async def served_quickly(server: ServerProcess) -> dict[str, float]:
    """Seconds a new, well-behaved candidate waits for each step: creating its session,
    opening its socket, the ack of its first event."""
    waits: dict[str, float] = {}
    started = time.monotonic()
    (session_id, token), = await create_sessions(server, 1, "soak-check")  # fmt: skip
    waits["create"] = time.monotonic() - started
    url = f"{server.ws_url}/ws/candidate/{session_id}?token={token}"
    started = time.monotonic()
    async with socket_to(url, "127.0.0.1") as ws:
        waits["connect"] = time.monotonic() - started
        started = time.monotonic()
        await ws.send(json.dumps({"type": "assessment_started", "seq": 1, "ts": TS}))
        with anyio.fail_after(10):
            while json.loads(await ws.recv()).get("type") != "ack":
                pass
        waits["ack"] = time.monotonic() - started
    return waits


def rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


async def rss_reading(process: psutil.Process) -> float:
    """The median of three readings half a second apart: one reading can catch a burst."""
    readings = []
    for _ in range(3):
        readings.append(rss_mb(process))
        await anyio.sleep(0.5)
    return statistics.median(readings)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def enough_file_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the soak needs {needed} file descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.mark.timeout(240)
async def test_a_thousand_misbehaving_clients_leave_memory_flat(tmp_path: Path) -> None:
    # Both ends of every socket live on this machine: the server inherits the raised limit.
    enough_file_descriptors(4 * CLIENTS + 1000)
    server = ServerProcess(tmp_path / "storage", free_port(), ENV)
    server.start()
    try:
        await soak(server)
    finally:
        server.stop()


async def soak(server: ServerProcess) -> None:
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    good, stored_before = await well_behaved_session(server)
    flooders = await create_sessions(server, FLOODERS, "soak-flood")
    others = await create_sessions(server, GARBLERS + NON_READERS, "soak-misc")
    limits = httpx.Limits(max_connections=CHURNERS, max_keepalive_connections=CHURNERS)
    http = httpx.AsyncClient(timeout=10, limits=limits)
    state = Soak(server, float("inf"), http, flooders=flooders, others=others)
    busy = [json.dumps({"type": "subscribe", "channel": f"session:{sid}"}) for sid, _ in flooders]
    readings: list[tuple[float, float]] = []
    lags: list[float] = []  # how late this process's loop wakes: the clients' own lag
    async with anyio.create_task_group() as tg:
        for index, (session_id, token) in enumerate(flooders):  # 10 an address: its limit bites
            tg.start_soon(flooder, state, session_id, token, f"127.0.1.{1 + index % 10}")
        for index, (session_id, token) in enumerate(others[:GARBLERS]):
            tg.start_soon(garbler, state, session_id, token, f"127.0.2.{1 + index % 20}")
        for index, (session_id, token) in enumerate(others[GARBLERS:]):
            source = CROWDED if index < MAX_SOCKETS_PER_ADDRESS else f"127.0.3.{1 + index % 20}"
            tg.start_soon(non_reader, state, state.candidate_url(session_id, token), source,
                          GARBAGE)  # fmt: skip
        for index in range(ADMINS):
            tg.start_soon(admin, state, f"127.0.4.{1 + index % 10}")
        for index in range(ADMIN_NON_READERS):
            tg.start_soon(non_reader, state, state.admin_url(), f"127.0.5.{1 + index % 10}",
                          busy[index % 20 : index % 20 + 8], 1.0)  # fmt: skip
        for index in range(SLOWLORIS):
            tg.start_soon(slowloris, state, f"127.0.6.{1 + index % 50}")
        for index in range(CHURNERS):
            tg.start_soon(churner, state, index, good)
        started = time.monotonic()

        async def sample_until(second: float) -> None:
            while time.monotonic() - started < second:
                readings.append((round(time.monotonic() - started), round(rss_mb(process), 1)))
                asleep = time.monotonic()
                await anyio.sleep(2)
                lags.append(time.monotonic() - asleep - 2)

        await sample_until(WARM_UP)
        seen_at_warm_up = state.seen.copy()
        opened_at_warm_up = OPENED["sockets"]
        after_warm_up = await rss_reading(process)
        cpu_before, measured_from = process.cpu_times(), time.monotonic()
        await sample_until(WARM_UP + MEASURED)
        cpu_after = process.cpu_times()
        busy = (sum(cpu_after[:2]) - sum(cpu_before[:2])) / (time.monotonic() - measured_from)
        at_end = await rss_reading(process)
        connections = OPENED["sockets"] - opened_at_warm_up
        wait = await served_quickly(server)  # while the others still misbehave
        metrics = (await http.get(f"{server.url}/metrics", headers=ADMIN)).text
        queued = {name: metric(metrics, name) for name in QUEUES}
        state.stop_at = 0  # every client ends its round and goes
    await http.aclose()
    assert server.process.poll() is None, server.log.read_text()[-3000:]
    growth = at_end - after_warm_up
    during = state.seen - seen_at_warm_up
    print(f"\nsoak RSS MB (second, MB): {readings}\nafter warm-up {after_warm_up:.1f}, at the "
          f"end {at_end:.1f}, growth {growth:.1f}; a new candidate waited {wait} s; queued then: {queued}; the clients' loop lagged up to "
          f"{max(lags):.2f} s; the server used {busy:.0%} of a core\n"
          f"seen in all: {dict(state.seen)}\nseen after warm-up: {dict(during)}")  # fmt: skip
    connections += during["slowloris"]  # each holds a raw HTTP connection
    allowed = ONE_OFF_RSS_GROWTH_MB + connections * RSS_GROWTH_PER_CONNECTION_KB / 1024
    assert connections > 1000, (connections, dict(during))  # the bound is per connection
    assert growth <= allowed, (growth, allowed, connections, readings, dict(during))
    assert sum(wait.values()) < MAX_WAIT, wait
    await settled(server)
    assert await stored_when_settled(server, good[0]) == stored_before
    expected = {"rate_limited", "too_large", "invalid_json", "invalid_event", "unknown_type",
                "too_many_subscriptions", "snapshot", "unsubscribed", "ack", "close 4401",
                "close 4403", "close 4429", "close 1007", "close 1009", "http 400",
                "http 401", "http 403", "http 422", "vanished", "slowloris", "churned"}  # fmt: skip
    assert expected <= set(state.seen), expected - set(state.seen)
    # uvicorn itself logs a traceback for each text frame that is not UTF-8: those are expected.
    log = server.log.read_text()
    for sign in ("Exception in ASGI application", " ERROR vigil", " CRITICAL "):
        assert sign not in log, log[log.index(sign) - 200 :][:5000]


async def settled(server: ServerProcess) -> None:
    """Every socket the clients left is gone from the server's books."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        with anyio.fail_after(30):
            while True:
                text = (await client.get("/metrics")).text
                open_sockets = metric(text, "vigil_candidate_connections") + metric(
                    text, "vigil_admin_connections"
                )
                if open_sockets == 0:
                    break
                await anyio.sleep(0.2)
    # Admins that never read were disconnected for it (their outbox filled), not kept.
    assert metric(text, "vigil_admins_evicted_total") > 0
