"""Load benchmark: N candidate sockets at a paced total event rate while M admin sockets watch.

    .venv/bin/python benchmarks/load.py --candidates 200 --rate 1000 --duration 10
    .venv/bin/python benchmarks/load.py --candidates 200 --rate 1000 --duration 10 --kill-after 5
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --admin-token T --server-pid P

By default it spawns `vigil serve` on a free loopback port with a temporary storage dir, pinned to
CPU 0, and pins its own processes to the other CPUs. Candidates are spread over `--workers`
processes, admins have a process of their own; they meet the coordinator at absolute wall-clock
times (all processes share one clock, so `sentNs` in an event gives send->admin latency).
Each candidate's seq 1 is sent while connecting: its ack proves the session took the socket.
Rates and latencies cover only the measured window (after `--warmup`); the totals cover the
whole run. With `--kill-after` the server is SIGKILLed mid-run, and with any spawned server the
SQLite file is then checked: every acked seq must be in `events`. The table is printed and
appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import ipaddress
import math
import multiprocessing as mp
import os
import platform
import queue
import random
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx
import msgspec
import psutil  # type: ignore[import-untyped,unused-ignore]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

try:
    import uvloop
except ImportError:  # the load generator still works, only slower
    uvloop = None  # type: ignore[assignment]

REPO: Final = Path(__file__).resolve().parent.parent
RESULTS_MD: Final = Path(__file__).resolve().parent / "RESULTS.md"
RESULTS_HEADER: Final = """# Load benchmark results

Appended by `benchmarks/load.py`, newest last. Each entry names the command, the machine and the
commit; rates and latencies cover only the measured window (after warm-up).
"""

# Layout of the shared `control` array: written only by the coordinator.
GO: Final = 0
T0: Final = 1
W0: Final = 2
W1: Final = 3
DRAIN: Final = 4
STOP: Final = 5
EXPECTED: Final = 6
CONTROL_SIZE: Final = 7
# Each child owns COUNTER_WIDTH slots of `counters`: sent, acked, admin deliveries.
COUNTER_WIDTH: Final = 3

TICK_S: Final = 0.005
# Past this many due-but-unsent events (seconds of load), the generator skips instead of bursting.
MAX_BACKLOG_S: Final = 0.25
EVENT_MIX: Final = (
    ("heartbeat", 60.0),
    ("question_viewed", 36.0),
    ("tab_switch_detected", 1.2),
    ("copy_attempt", 0.8),
    ("paste_attempt", 0.8),
    ("fullscreen_exit", 0.6),
    ("right_click_attempt", 0.6),
)
QUESTIONS: Final = 20
# Connecting: rounds of retrying sockets that were not attached, and how long the first ack
# (of seq 1, the "hello") may take.
CONNECT_ROUNDS: Final = 4
HELLO_TIMEOUT_S: Final = 15.0

T = TypeVar("T")


# --- wire shapes the load generator decodes (only the fields it needs) -----------------------


class ServerMessage(msgspec.Struct):
    type: str
    seq: int | None = None
    code: str | None = None
    message: str | None = None


class EventData(msgspec.Struct):
    sentNs: int | None = None


class AdminEvent(msgspec.Struct):
    data: EventData | None = None


class AdminMessage(msgspec.Struct):
    type: str
    event: AdminEvent | None = None


SERVER_DECODER: Final = msgspec.json.Decoder(ServerMessage)
ADMIN_DECODER: Final = msgspec.json.Decoder(AdminMessage)


# --- what crosses process boundaries ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ChildSpec:
    index: int
    ws_base: str
    cpus: frozenset[int] | None
    sessions: list[tuple[str, str]]  # candidate workers: (session id, candidate token)
    rate: float  # this worker's share of the offered events/s
    seed: int
    connect_concurrency: int
    admin_token: str = ""  # admin process only
    assessment_id: str = ""
    admins: int = 0


@dataclasses.dataclass
class CandidateResult:
    sent: int = 0
    acked: int = 0
    sent_window: int = 0
    acked_window: int = 0
    skipped: int = 0
    ack_latency_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    sessions: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    error_samples: list[str] = dataclasses.field(default_factory=list)
    other_messages: Counter[str] = dataclasses.field(default_factory=Counter)
    closes: Counter[str] = dataclasses.field(default_factory=Counter)
    attach_failures: Counter[str] = dataclasses.field(default_factory=Counter)


@dataclasses.dataclass
class AdminResult:
    seen: int = 0
    seen_window: int = 0
    other: Counter[str] = dataclasses.field(default_factory=Counter)
    latency_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    close: str = ""


@dataclasses.dataclass(frozen=True)
class Ready:
    index: int
    connected: int
    failed: int
    first_error: str


@dataclasses.dataclass(frozen=True)
class Done:
    index: int
    candidates: CandidateResult | None
    admins: list[AdminResult] | None


# --- helpers shared by every process ----------------------------------------------------------


def pin(cpus: frozenset[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


def run_async(main: Awaitable[T]) -> T:
    factory = uvloop.new_event_loop if uvloop is not None else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)  # type: ignore[arg-type]


async def sleep_until_ns(moment_ns: int) -> None:
    delay = (moment_ns - time.time_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


async def wait_go(
    control: Any, timeout_s: float, on_tick: Callable[[], None] | None = None
) -> bool:
    deadline = time.monotonic() + timeout_s
    while not control[GO] and not control[STOP] and time.monotonic() < deadline:
        if on_tick is not None:
            on_tick()
        await asyncio.sleep(0.01)
    return bool(control[GO]) and not control[STOP]


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


# --- candidate worker process -----------------------------------------------------------------


class Candidate:
    __slots__ = ("acked", "sent_ns", "session_id", "token", "ws")

    def __init__(self, session_id: str, token: str) -> None:
        self.session_id = session_id
        self.token = token
        self.ws: ClientConnection | None = None
        self.sent_ns: array[int] = array("q")  # send time of seq i+1 at index i
        self.acked = 0


class Window:
    """Measured window, known to readers only once the coordinator says go."""

    __slots__ = ("end", "start")

    def __init__(self) -> None:
        self.start = 2**62
        self.end = 2**62


def event_prefixes(seed: int, size: int = 1000) -> list[str]:
    """A shuffled cycle of frame prefixes in the proportions of EVENT_MIX; each ends at `seq":`."""
    rng = random.Random(seed)
    total = sum(weight for _, weight in EVENT_MIX)
    out: list[str] = []
    for kind, weight in EVENT_MIX:
        for _ in range(max(1, round(size * weight / total))):
            question = ""
            if kind == "question_viewed":
                question = f'"questionId":"q{rng.randint(1, QUESTIONS)}",'
            out.append(f'{{"type":"{kind}",{question}"seq":')
    rng.shuffle(out)
    return out


def iso_now() -> str:
    now = datetime.now(UTC)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"


def candidate_main(spec: ChildSpec, control: Any, counters: Any, results: Any, lock: Any) -> None:
    pin(spec.cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(candidate_worker(spec, control, counters, results, lock))


class Lifecycle:
    """Where a worker is: a close while `connecting` is an attach failure, to be retried."""

    __slots__ = ("closing", "connecting")

    def __init__(self) -> None:
        self.connecting = True
        self.closing = False


async def attach(candidate: Candidate, url: str, start_reader: Callable[[Candidate], None]) -> bool:
    """Connect and send seq 1; attached once the server acks it (the positive sign that the
    session actor took the socket: a failed attach only shows as a close after the handshake)."""
    candidate.sent_ns, candidate.acked = array("q"), 0
    ws = candidate.ws = await connect(
        url, open_timeout=30, ping_interval=None, close_timeout=5, compression=None
    )
    start_reader(candidate)
    sent_ns = time.time_ns()
    candidate.sent_ns.append(sent_ns)
    with contextlib.suppress(ConnectionClosed):
        await ws.send(
            f'{{"type":"heartbeat","seq":1,"ts":"{iso_now()}","data":{{"sentNs":{sent_ns}}}}}'
        )
    deadline = time.monotonic() + HELLO_TIMEOUT_S
    while candidate.acked < 1 and candidate.ws is ws and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    if candidate.acked >= 1:
        return True
    if candidate.ws is ws:  # open but silent: start over
        candidate.ws = None
        await ws.close()
    return False


async def connect_candidate(
    candidate: Candidate,
    spec: ChildSpec,
    gate: asyncio.Semaphore,
    lock: Any,
    errors: list[str],
    start_reader: Callable[[Candidate], None],
) -> None:
    url = f"{spec.ws_base}/ws/candidate/{candidate.session_id}?token={candidate.token}"
    async with gate:
        for attempt in range(3):
            # Retries hold a lock shared by all workers, so no two attaches overlap.
            if lock is not None and not await asyncio.to_thread(lock.acquire, True, 60):
                errors.append("connect lock not acquired in 60 s")
                return
            try:
                if await attach(candidate, url, start_reader):
                    return
            except (OSError, TimeoutError, WebSocketException) as exc:
                if attempt == 2:
                    errors.append(describe(exc))
            finally:
                if lock is not None:
                    lock.release()
            await asyncio.sleep(0.1 * (attempt + 1))


async def connect_all(
    everyone: list[Candidate],
    spec: ChildSpec,
    lock: Any,
    errors: list[str],
    start_reader: Callable[[Candidate], None],
) -> None:
    """Connect everyone, `connect_concurrency` at a time; then retry the failed, one at a time."""
    pending = everyone
    for round_ in range(CONNECT_ROUNDS):
        gate = asyncio.Semaphore(spec.connect_concurrency if round_ == 0 else 1)
        retry_lock = None if round_ == 0 else lock
        await asyncio.gather(
            *(connect_candidate(c, spec, gate, retry_lock, errors, start_reader) for c in pending)
        )
        pending = [c for c in everyone if c.acked < 1]
        if not pending:
            return


async def candidate_worker(
    spec: ChildSpec, control: Any, counters: Any, results: Any, lock: Any
) -> None:
    result = CandidateResult()
    window, lifecycle = Window(), Lifecycle()
    everyone = [Candidate(sid, token) for sid, token in spec.sessions]
    errors: list[str] = []
    readers: list[asyncio.Task[None]] = []

    def start_reader(candidate: Candidate) -> None:
        readers.append(asyncio.create_task(read_acks(candidate, result, window, lifecycle)))

    try:
        await connect_all(everyone, spec, lock, errors, start_reader)
        lifecycle.connecting = False
        for candidate in everyone:
            if candidate.acked < 1:  # never attached: nothing of it counts
                candidate.sent_ns, candidate.acked = array("q"), 0
        live = [c for c in everyone if c.ws is not None and c.acked >= 1]
        result.sent = result.acked = len(live)
        failed = len(everyone) - len(live)
        results.put(Ready(spec.index, len(live), failed, errors[0] if errors else ""))
        publish_counters(counters, spec.index, result)
        if live and await wait_go(control, timeout_s=600):
            window.start, window.end = control[W0], control[W1]
            await send_paced(live, spec, control, counters, result, window)
            await drain_acks(live, spec, control, counters, result)
    finally:
        lifecycle.closing = True
        closers = [c.ws.close() for c in everyone if c.ws is not None]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*closers, return_exceptions=True), 15)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    result.sessions = [(c.session_id, len(c.sent_ns), c.acked) for c in everyone]
    publish_counters(counters, spec.index, result)
    results.put(Done(spec.index, result, None))


def publish_counters(counters: Any, index: int, result: CandidateResult) -> None:
    counters[index * COUNTER_WIDTH] = result.sent
    counters[index * COUNTER_WIDTH + 1] = result.acked


async def send_paced(
    live: list[Candidate],
    spec: ChildSpec,
    control: Any,
    counters: Any,
    result: CandidateResult,
    window: Window,
) -> None:
    """Send `spec.rate` events/s round-robin over `live`, in small ticks, until the window ends."""
    prefixes = event_prefixes(spec.seed)
    n_prefixes, n_live = len(prefixes), len(live)
    t0, start, end = control[T0], window.start, window.end
    per_ns = spec.rate / 1e9
    max_backlog = max(1, int(spec.rate * MAX_BACKLOG_S))
    scheduled = turn = 0
    ts, ts_refreshed = iso_now(), time.monotonic()
    await sleep_until_ns(t0)
    while not control[STOP]:
        now = time.time_ns()
        if now >= end:
            break
        if time.monotonic() - ts_refreshed > 0.1:
            ts, ts_refreshed = iso_now(), time.monotonic()
        backlog = int((now - t0) * per_ns) - scheduled
        if backlog > max_backlog:
            result.skipped += backlog - max_backlog
            scheduled += backlog - max_backlog
            backlog = max_backlog
        scheduled += backlog
        for _ in range(backlog):
            candidate = live[turn % n_live]
            prefix = prefixes[turn % n_prefixes]
            turn += 1
            ws = candidate.ws
            if ws is None:
                result.skipped += 1
                continue
            sent_ns = time.time_ns()
            candidate.sent_ns.append(sent_ns)
            try:
                await ws.send(
                    f'{prefix}{len(candidate.sent_ns)},"ts":"{ts}","data":{{"sentNs":{sent_ns}}}}}'
                )
            except ConnectionClosed:
                candidate.sent_ns.pop()  # a closed connection raises before writing
                candidate.ws = None
                result.skipped += 1
                continue
            result.sent += 1
            if start <= sent_ns < end:
                result.sent_window += 1
        publish_counters(counters, spec.index, result)
        await asyncio.sleep(max(0.0, TICK_S - (time.time_ns() - now) / 1e9))


async def drain_acks(
    live: list[Candidate], spec: ChildSpec, control: Any, counters: Any, result: CandidateResult
) -> None:
    deadline = control[DRAIN]
    while not control[STOP] and time.time_ns() < deadline:
        publish_counters(counters, spec.index, result)
        if result.acked >= result.sent:
            return
        if all(c.ws is None or c.acked >= len(c.sent_ns) for c in live):
            return
        await asyncio.sleep(0.05)


async def read_acks(
    candidate: Candidate, result: CandidateResult, window: Window, lifecycle: Lifecycle
) -> None:
    ws = candidate.ws
    assert ws is not None
    try:
        async for raw in ws:
            message = SERVER_DECODER.decode(raw)
            if message.type == "ack" and message.seq is not None:
                on_ack(candidate, message.seq, result, window)
            elif message.type == "error":
                result.errors[message.code or "?"] += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{message.code}: {message.message}"[:200])
            else:
                result.other_messages[message.type] += 1
    except ConnectionClosed:
        pass  # the close code is read below
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        result.errors["undecodable"] += 1
        result.error_samples.append(describe(exc))
    finally:
        if not lifecycle.closing and candidate.ws is ws:
            closes = result.attach_failures if lifecycle.connecting else result.closes
            closes[f"{ws.close_code} {ws.close_reason or ''}".strip()[:80]] += 1
            candidate.ws = None


def on_ack(candidate: Candidate, seq: int, result: CandidateResult, window: Window) -> None:
    previous = candidate.acked
    sent = candidate.sent_ns
    if seq > len(sent):
        result.errors["ack_beyond_sent"] += 1
        seq = len(sent)
    if seq <= previous:
        return
    now = time.time_ns()
    start, end, latencies = window.start, window.end, result.ack_latency_ns
    for i in range(previous, seq):
        sent_ns = sent[i]
        if start <= sent_ns < end:
            latencies.append(now - sent_ns)
    result.acked += seq - previous
    if start <= now < end:
        result.acked_window += seq - previous
    candidate.acked = seq


# --- admin process ----------------------------------------------------------------------------


def admin_main(spec: ChildSpec, control: Any, counters: Any, results: Any) -> None:
    pin(spec.cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(admin_worker(spec, control, counters, results))


async def open_admin(spec: ChildSpec) -> ClientConnection:
    ws = await connect(
        f"{spec.ws_base}/ws/admin?token={spec.admin_token}",
        open_timeout=30,
        ping_interval=None,
        close_timeout=5,
        compression=None,
        max_size=None,
    )
    channel = f"assessment:{spec.assessment_id}"
    await ws.send(msgspec.json.encode({"type": "subscribe", "channel": channel}).decode())
    first = ADMIN_DECODER.decode(await asyncio.wait_for(ws.recv(), 30))
    if first.type != "snapshot":
        await ws.close()
        raise RuntimeError(f'expected {{"type": "snapshot"}} after subscribe, got {first.type!r}')
    return ws


async def admin_worker(spec: ChildSpec, control: Any, counters: Any, results: Any) -> None:
    sockets: list[ClientConnection] = []
    errors: list[str] = []
    for _ in range(spec.admins):
        try:
            sockets.append(await open_admin(spec))
        except (OSError, TimeoutError, ConnectionClosed, RuntimeError) as exc:
            errors.append(describe(exc))
    results.put(
        Ready(spec.index, len(sockets), spec.admins - len(sockets), errors[0] if errors else "")
    )
    stats = [AdminResult() for _ in sockets]
    window, closing = Window(), [False]
    readers = [
        asyncio.create_task(read_admin(ws, st, window, closing))
        for ws, st in zip(sockets, stats, strict=True)
    ]
    slot = spec.index * COUNTER_WIDTH + 2

    def publish() -> None:
        counters[slot] = sum(st.seen for st in stats)

    try:
        if sockets and await wait_go(control, timeout_s=900, on_tick=publish):
            window.start, window.end = control[W0], control[W1]
            # Until everything sent was seen (EXPECTED is set once the workers are done).
            while not control[STOP] and time.time_ns() < control[DRAIN]:
                publish()
                expected = control[EXPECTED]
                if expected and all(st.seen >= expected or st.close for st in stats):
                    break
                await asyncio.sleep(0.05)
    finally:
        closing[0] = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 15
            )
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    publish()
    results.put(Done(spec.index, None, stats))


async def read_admin(
    ws: ClientConnection, stats: AdminResult, window: Window, closing: list[bool]
) -> None:
    latencies = stats.latency_ns
    try:
        async for raw in ws:
            now = time.time_ns()
            message = ADMIN_DECODER.decode(raw)
            event = message.event
            sent_ns = event.data.sentNs if event is not None and event.data is not None else None
            if message.type != "event" or sent_ns is None:
                stats.other[message.type] += 1
                continue
            stats.seen += 1
            if window.start <= sent_ns < window.end:
                latencies.append(now - sent_ns)
            if window.start <= now < window.end:
                stats.seen_window += 1
    except ConnectionClosed:
        pass  # the close code is read below
    finally:
        if not closing[0]:
            stats.close = f"{ws.close_code} {ws.close_reason or ''}".strip()


# --- the server under test --------------------------------------------------------------------


@dataclasses.dataclass
class Server:
    http: str
    ws: str
    token: str
    process: subprocess.Popen[bytes] | None = None
    pid: int | None = None
    storage: Path | None = None
    log: Path | None = None
    keep_storage: bool = False

    def ps(self) -> psutil.Process | None:
        if self.pid is None:
            return None
        try:
            return psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_loopback(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"--url: expected http://HOST:PORT on this machine, got {url!r}")
    port = parts.port or 80
    for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP):
        if not ipaddress.ip_address(info[4][0]).is_loopback:
            raise SystemExit(f"--url: {parts.hostname} is not a loopback address; refusing")
    return parts.hostname, port


def spawn_server(
    args: argparse.Namespace, storage: Path, server_cpus: frozenset[int] | None
) -> Server:
    storage.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "VIGIL_STORAGE_DIR": str(storage),
        "VIGIL_AUTH_ADMIN_TOKEN": token,
        "VIGIL_SERVER_HOST": "127.0.0.1",
        "VIGIL_SERVER_PORT": str(port),
        "VIGIL_KAFKA_BOOTSTRAP_SERVERS": "",
    }
    command = [args.vigil, "serve"]
    taskset = shutil.which("taskset")
    preexec: Callable[[], None] | None = None
    if server_cpus and taskset:
        command = [taskset, "-c", ",".join(map(str, sorted(server_cpus))), *command]
    elif server_cpus:
        preexec = lambda: os.sched_setaffinity(0, server_cpus)  # noqa: E731
    log = storage / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )
    return Server(
        http=f"http://127.0.0.1:{port}",
        ws=f"ws://127.0.0.1:{port}",
        token=token,
        process=process,
        pid=process.pid,
        storage=storage,
        log=log,
        keep_storage=args.storage_dir is not None,
    )


async def wait_healthy(server: Server, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process is not None and server.process.poll() is not None:
                raise SystemExit(
                    f"server exited with {server.process.returncode} before /healthz answered:\n"
                    + tail(server.log)
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{server.http}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit(f"/healthz did not answer 200 within {timeout_s:.0f} s:\n{tail(server.log)}")


def tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return "(no server log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def stop_server(server: Server, timeout_s: float = 30) -> int | None:
    process = server.process
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
        return None


TRACEBACK: Final = re.compile(r"^[\s|+]*(Exception Group )?Traceback \(most recent call last\):")
EXCEPTION_LINE: Final = re.compile(r"^[A-Za-z_]\w*(\.\w+)*(: .*)?$")
LOG_LEVEL: Final = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")


def log_findings(log: Path | None) -> Counter[str]:
    """Distinct WARNING/ERROR/CRITICAL lines, and the last exception line of each traceback
    (exception groups included), with counts."""
    found: Counter[str] = Counter()
    if log is None or not log.exists():
        return found

    def record(text: str) -> None:
        # Timestamps and ids make every line unique; keep the text after them.
        text = re.sub(r"^\d{4}-\d\d-\d\d \S+ ", "", text)
        found[re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<id>", text)[:200]] += 1

    exception: str | None = None
    in_traceback = False
    for line in log.read_text(errors="replace").splitlines():
        if TRACEBACK.match(line):
            in_traceback = True
            continue
        if in_traceback:
            body = line.lstrip(" |+-")
            if not line or line[0] in " |+":
                # Inside an exception group the exception lines are indented too.
                if EXCEPTION_LINE.match(body) and body not in ("raise", "pass", "return"):
                    exception = body
                continue
            in_traceback = False  # a line at column 0 ends the traceback...
            if exception is None and EXCEPTION_LINE.match(line):
                record(line)  # ...and in a plain one, it is the exception
                continue
            if exception is not None:
                record(exception)
                exception = None
        if LOG_LEVEL.search(line):
            record(line)
    if in_traceback and exception is not None:
        record(exception)
    return found


# --- set-up: sessions and metrics -------------------------------------------------------------


async def create_sessions(server: Server, count: int, assessment: str) -> list[tuple[str, str]]:
    headers = {"Authorization": f"Bearer {server.token}"}
    gate = asyncio.Semaphore(32)
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)

    async def one(client: httpx.AsyncClient, i: int) -> tuple[str, str]:
        body = {
            "candidateEmail": f"load{i}@example.com",
            "candidateName": f"Load Candidate {i}",
            "assessmentId": assessment,
        }
        async with gate:
            for attempt in range(3):
                response = await client.post("/candidate-sessions", json=body, headers=headers)
                if response.status_code == 201:
                    created = response.json()
                    return str(created["id"]), str(created["candidateToken"])
                if response.status_code != 429 or attempt == 2:
                    break
                await asyncio.sleep(0.5)
        raise SystemExit(
            f"POST /candidate-sessions: expected 201, got {response.status_code}: "
            f"{response.text[:300]}"
        )

    async with httpx.AsyncClient(base_url=server.http, timeout=30, limits=limits) as client:
        return list(await asyncio.gather(*(one(client, i) for i in range(count))))


async def scrape_metrics(server: Server) -> dict[str, float]:
    values: dict[str, float] = {}
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{server.http}/metrics", headers={"Authorization": f"Bearer {server.token}"}
            )
        for line in response.text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                with contextlib.suppress(ValueError):
                    values[name] = float(value)
    return values


def rss_mb(server: Server) -> float | None:
    process = server.ps()
    if process is None:
        return None
    with contextlib.suppress(psutil.Error):
        return float(process.memory_info().rss) / 2**20
    return None


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


# --- the coordinator --------------------------------------------------------------------------


@dataclasses.dataclass
class Sample:
    at_ns: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Run:
    args: argparse.Namespace
    server: Server
    assessment: str
    server_cpus: frozenset[int] | None
    client_cpus: frozenset[int] | None
    candidates: int = 0
    connected: int = 0
    admins_connected: int = 0
    connect_errors: list[str] = dataclasses.field(default_factory=list)
    setup_s: float = 0.0
    connect_s: float = 0.0
    rss_start: float | None = None
    rss_before: float | None = None
    rss_connected: float | None = None
    rss_end: float | None = None
    window_start: Sample = dataclasses.field(default_factory=Sample)
    window_end: Sample = dataclasses.field(default_factory=Sample)
    t0_ns: int = 0
    killed_at_ns: int | None = None
    workers: list[CandidateResult] = dataclasses.field(default_factory=list)
    admin_results: list[AdminResult] = dataclasses.field(default_factory=list)
    exit_code: int | None = None
    lost: int | None = None
    stored: int | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    scrapes: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)


def cpu_sets(args: argparse.Namespace) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    available = sorted(os.sched_getaffinity(0))
    if args.no_pin or len(available) < 2:
        return None, None
    server = frozenset(parse_cpus(args.server_cpus)) if args.server_cpus else {available[0]}
    client = (
        frozenset(parse_cpus(args.client_cpus))
        if args.client_cpus
        else frozenset(c for c in available if c not in server)
    )
    if args.url:  # not ours to pin
        server = frozenset()
    return frozenset(server) or None, client or None


def parse_cpus(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


async def coordinate(args: argparse.Namespace, storage: Path) -> Run:
    server_cpus, client_cpus = cpu_sets(args)
    if args.url:
        host, port = require_loopback(args.url)
        token = args.admin_token or os.environ.get("VIGIL_AUTH_ADMIN_TOKEN", "")
        server = Server(http=f"http://{host}:{port}", ws=f"ws://{host}:{port}", token=token)
        server.pid = args.server_pid
    else:
        server = spawn_server(args, storage, server_cpus)
    pin(client_cpus)
    run = Run(
        args, server, args.assessment or f"load-{uuid.uuid4().hex[:8]}", server_cpus, client_cpus
    )
    try:
        await wait_healthy(server, timeout_s=60)
        await drive(run)
    finally:
        if server.process is None or server.process.poll() is None:  # not the SIGKILLed
            run.rss_end = rss_mb(server)
        if server.process is not None and server.process.poll() is None:
            run.exit_code = stop_server(server)
        elif server.process is not None:
            run.exit_code = server.process.returncode
    if server.storage is not None:
        check_journal(run)
    return run


async def drive(run: Run) -> None:
    args, server = run.args, run.server
    run.rss_start = rss_mb(server)
    began = time.monotonic()
    sessions = await create_sessions(server, args.candidates, run.assessment)
    run.candidates = len(sessions)
    run.setup_s = time.monotonic() - began
    print(f"created {len(sessions)} sessions in {run.setup_s:.1f} s", flush=True)

    context = mp.get_context("spawn")
    control = context.RawArray("q", CONTROL_SIZE)
    workers = max(1, min(args.workers, len(sessions)))
    counters = context.RawArray("q", (workers + 1) * COUNTER_WIDTH)
    results = context.Queue()
    children: list[mp.process.BaseProcess] = []
    try:
        await start_children(run, sessions, workers, context, control, counters, results, children)
        await measure(run, control, counters, results, children)
    finally:
        control[STOP] = 1
        for child in children:
            child.join(timeout=20)
            if child.is_alive():
                child.terminate()
                run.notes.append(f"child process {child.pid} did not stop; terminated")


async def start_children(
    run: Run,
    sessions: list[tuple[str, str]],
    workers: int,
    context: Any,
    control: Any,
    counters: Any,
    results: Any,
    children: list[mp.process.BaseProcess],
) -> None:
    args, server = run.args, run.server
    admin = ChildSpec(
        index=workers,
        ws_base=server.ws,
        cpus=run.client_cpus,
        sessions=[],
        rate=0,
        seed=args.seed,
        connect_concurrency=1,
        admin_token=server.token,
        assessment_id=run.assessment,
        admins=args.admins,
    )
    if args.admins:
        children.append(
            context.Process(target=admin_main, args=(admin, control, counters, results))
        )
        children[-1].start()
        ready = await collect_ready(results, 1, timeout_s=60)
        run.admins_connected = sum(r.connected for r in ready)
        run.connect_errors += [r.first_error for r in ready if r.first_error]
    await asyncio.sleep(1)  # let the admins' snapshots settle before the baseline
    run.rss_before = rss_mb(server)
    began = time.monotonic()
    connect_lock = context.Lock()
    for index in range(workers):
        part = sessions[index::workers]
        spec = ChildSpec(
            index=index,
            ws_base=server.ws,
            cpus=run.client_cpus,
            sessions=part,
            rate=args.rate * len(part) / len(sessions),
            seed=args.seed + index,
            connect_concurrency=args.connect_concurrency,
        )
        children.append(
            context.Process(
                target=candidate_main, args=(spec, control, counters, results, connect_lock)
            )
        )
        children[-1].start()
    ready = await collect_ready(results, workers, timeout_s=60 + len(sessions) / 20)
    run.connect_s = time.monotonic() - began
    run.connected = sum(r.connected for r in ready)
    run.connect_errors += [r.first_error for r in ready if r.first_error]
    print(
        f"connected {run.connected}/{len(sessions)} candidates in {run.connect_s:.1f} s, "
        f"{run.admins_connected}/{args.admins} admins",
        flush=True,
    )
    await asyncio.sleep(args.settle)
    run.rss_connected = rss_mb(server)


async def collect_ready(results: Any, count: int, timeout_s: float) -> list[Ready]:
    ready: list[Ready] = []
    deadline = time.monotonic() + timeout_s
    while len(ready) < count and time.monotonic() < deadline:
        try:
            message = results.get_nowait()
        except queue.Empty:
            await asyncio.sleep(0.05)
            continue
        if isinstance(message, Ready):
            ready.append(message)
    if len(ready) < count:
        raise SystemExit(f"only {len(ready)} of {count} processes connected in {timeout_s:.0f} s")
    return ready


async def measure(
    run: Run, control: Any, counters: Any, results: Any, children: list[mp.process.BaseProcess]
) -> None:
    args = run.args
    client_pids = [os.getpid(), *(c.pid for c in children if c.pid is not None)]
    t0 = time.time_ns() + 500_000_000
    w0 = t0 + int(args.warmup * 1e9)
    w1 = w0 + int(args.duration * 1e9)
    drain = w1 + int(args.drain * 1e9)
    kill_at = t0 + int(args.kill_after * 1e9) if args.kill_after is not None else None
    control[T0], control[W0], control[W1], control[DRAIN] = t0, w0, w1, drain
    run.t0_ns = t0
    control[GO] = 1
    hard_deadline = drain + 30_000_000_000
    done: list[Done] = []
    candidate_workers = len(children) - (1 if args.admins else 0)
    marks = {"start": w0, "end": w1}
    if kill_at is not None:
        marks["kill"] = kill_at
    last = list(counters)  # the seq-1 events of the connect phase are not load
    next_print = t0 + 1_000_000_000
    print(" time  phase    sent/s  acked/s  admin/s", flush=True)
    while len(done) < len(children) and time.time_ns() < hard_deadline:
        due = min([next_print, *marks.values()])
        await sleep_until_ns(min(due, time.time_ns() + 50_000_000))
        now = time.time_ns()
        for name, at in list(marks.items()):
            if now >= at:
                del marks[name]
                await on_mark(run, name, client_pids, control)
        if now >= next_print:
            last = print_progress(counters, last, now, t0, w0, w1, run)
            next_print += 1_000_000_000
        done += drain_queue(results)
        if len([d for d in done if d.candidates is not None]) == candidate_workers:
            control[EXPECTED] = sum(d.candidates.sent for d in done if d.candidates is not None)
    await asyncio.gather(*run.scrapes)
    if len(done) < len(children):
        run.notes.append(f"only {len(done)} of {len(children)} processes reported in time")
    run.workers = [d.candidates for d in done if d.candidates is not None]
    run.admin_results = [a for d in done if d.admins is not None for a in d.admins]


async def on_mark(run: Run, name: str, client_pids: list[int], control: Any) -> None:
    if run.killed_at_ns is not None:
        return  # the window ended at the kill
    if name == "start":
        run.window_start = await sample(run, client_pids)
    elif name == "end":
        run.window_end = await sample(run, client_pids)
    elif name == "kill" and run.server.process is not None:
        if run.window_start.at_ns and not run.window_end.at_ns:
            # /metrics first (the dead answer none), then CPU: the window ends at the kill.
            metrics = await scrape_metrics(run.server)
            run.window_end = await sample(run, client_pids, metrics)
        run.server.process.send_signal(signal.SIGKILL)
        run.killed_at_ns = time.time_ns()
        control[STOP] = 1
        print("server killed with SIGKILL", flush=True)


async def sample(
    run: Run, client_pids: list[int], metrics: dict[str, float] | None = None
) -> Sample:
    pid = run.server.pid
    result = Sample(
        at_ns=time.time_ns(),
        server_cpu=cpu_seconds([pid]) if pid is not None else 0.0,
        client_cpu=cpu_seconds(client_pids),
    )
    if metrics is not None:
        result.metrics = metrics
        return result

    async def scrape() -> None:
        result.metrics = await scrape_metrics(run.server)

    # A saturated server answers /metrics late; do not hold up the progress lines for it.
    run.scrapes.append(asyncio.create_task(scrape()))
    return result


def print_progress(
    counters: Any, last: list[int], now: int, t0: int, w0: int, w1: int, run: Run
) -> list[int]:
    current = list(counters)
    delta = [c - p for c, p in zip(current, last, strict=True)]
    sent = sum(delta[0::COUNTER_WIDTH])
    acked = sum(delta[1::COUNTER_WIDTH])
    admin = sum(delta[2::COUNTER_WIDTH])
    if run.killed_at_ns is not None:
        phase = "killed"
    else:
        phase = "warmup" if now < w0 else "measure" if now < w1 else "drain"
    print(f"{(now - t0) / 1e9:5.0f}  {phase:7} {sent:8d} {acked:8d} {admin:8d}", flush=True)
    return current


def drain_queue(results: Any) -> list[Done]:
    out: list[Done] = []
    while True:
        try:
            message = results.get_nowait()
        except queue.Empty:
            return out
        if isinstance(message, Done):
            out.append(message)


def check_journal(run: Run) -> None:
    """Every acked seq must be in `events` for its session (after a kill or a clean stop)."""
    assert run.server.storage is not None
    database = run.server.storage / "vigil.db"
    if not database.exists():
        run.notes.append(f"no {database}: acked-events check skipped")
        return
    stored: dict[str, set[int]] = {}
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        for session_id, seq in db.execute(
            "SELECT session_id, seq FROM event_log WHERE seq IS NOT NULL"
        ):
            stored.setdefault(session_id, set()).add(int(seq))
    lost = count = 0
    for worker in run.workers:
        for session_id, _sent, acked in worker.sessions:
            have = stored.get(session_id, set())
            lost += sum(1 for seq in range(1, acked + 1) if seq not in have)
            count += len(have)
    run.lost, run.stored = lost, count


# --- the report -------------------------------------------------------------------------------


def percentile(ordered: Sequence[int], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] / 1e6


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def per_second(count: float | None, window_s: float) -> float | None:
    return None if count is None or window_s <= 0 else count / window_s


def report(run: Run) -> list[tuple[str, str]]:
    args, workers, admins = run.args, run.workers, run.admin_results
    start, end = run.window_start, run.window_end
    window_s = (end.at_ns - start.at_ns) / 1e9 if start.at_ns and end.at_ns else 0.0
    sent = sum(w.sent for w in workers)
    acked = sum(w.acked for w in workers)
    acked_window = sum(w.acked_window for w in workers)
    ack_lat = sorted(x for w in workers for x in w.ack_latency_ns)
    admin_lat = sorted(x for a in admins for x in a.latency_ns)
    server_cpu = end.server_cpu - start.server_cpu if window_s and run.server.pid else None
    client_cpu = end.client_cpu - start.client_cpu if window_s else None
    per_candidate = None
    if run.rss_before is not None and run.rss_connected is not None and run.connected:
        per_candidate = (run.rss_connected - run.rss_before) * 1024 / run.connected
    batches = delta(run, "vigil_journal_batches_total")
    commit_s = delta(run, "vigil_journal_commit_seconds_sum")
    errors: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    attach: Counter[str] = Counter()
    for w in workers:
        errors.update(w.errors)
        closes.update(w.closes)
        attach.update(w.attach_failures)
    server_pct = per_second(server_cpu, window_s)
    client_pct = per_second(client_cpu, window_s)
    rows = [
        ("candidates connected / created", f"{run.connected} / {run.candidates}"),
        ("admins connected", f"{run.admins_connected} / {args.admins}"),
        ("candidate worker processes", str(min(args.workers, max(1, run.candidates)))),
        ("measured window (s)", num(window_s, 1)),
        ("target rate (events/s)", num(args.rate)),
        ("offered (events/s)", num(per_second(sum(w.sent_window for w in workers), window_s))),
        ("acked, sustained (events/s)", num(per_second(acked_window, window_s))),
        (
            "admin deliveries (events/s, all admins)",
            num(per_second(sum(a.seen_window for a in admins), window_s)),
        ),
        (
            "send->admin latency p50 / p99 / p99.9 (ms)",
            " / ".join(ms(percentile(admin_lat, q)) for q in (0.5, 0.99, 0.999))
            if admin_lat
            else "n/a: no admin"
            if not admins
            else "n/a: no event sent in the window reached an admin",
        ),
        (
            "send->ack latency p50 / p99 / p99.9 / max (ms)",
            " / ".join(ms(percentile(ack_lat, q)) for q in (0.5, 0.99, 0.999, 1.0)),
        ),
        (
            "events sent / acked / seen by admin (min) at end",
            f"{sent:,} / {acked:,} / " + (f"{min(a.seen for a in admins):,}" if admins else "n/a"),
        ),
        ("events skipped by the generator", f"{sum(w.skipped for w in workers):,}"),
        (
            "server RSS before connect / connected / end (MB)",
            " / ".join(num(v, 1) for v in (run.rss_before, run.rss_connected, run.rss_end)),
        ),
        ("server memory per connected candidate (KB)", num(per_candidate, 1)),
        (
            "server CPU per 1000 acked events (s)",
            num(server_cpu * 1000 / acked_window, 3) if server_cpu and acked_window else "n/a",
        ),
        ("server CPU in window (% of one core)", num(server_pct and 100 * server_pct)),
        ("load generator CPU in window (% of one core)", num(client_pct and 100 * client_pct)),
        (
            "journal commits/s, mean commit (ms), events/commit",
            f"{num(per_second(batches, window_s))}, "
            f"{ms(commit_s * 1000 / batches if batches and commit_s is not None else None)}, "
            f"{num(acked_window / batches if batches else None, 1)}",
        ),
        ("server error frames", ", ".join(f"{k}={v}" for k, v in errors.items()) or "0"),
        (
            "candidate sockets closed before their first ack (retried)",
            ", ".join(f"{k} x{v}" for k, v in attach.items()) or "0",
        ),
        ("unexpected candidate closes", ", ".join(f"{k} x{v}" for k, v in closes.items()) or "0"),
        ("admin closes", ", ".join(a.close for a in admins if a.close) or "0"),
    ]
    if run.killed_at_ns is not None:
        killed_s = (run.killed_at_ns - run.t0_ns) / 1e9
        rows.append(("server SIGKILLed at (s after load start)", num(killed_s, 2)))
    elif run.server.process is not None:
        rows.append(("server exit code after SIGTERM", str(run.exit_code)))
    if run.lost is not None:
        rows.append(("events stored in SQLite (with seq)", f"{run.stored:,}"))
        rows.append(("acked events lost", str(run.lost)))
    return rows


def delta(run: Run, metric: str) -> float | None:
    """Change of a server metric over the window; None when a scrape failed."""
    before, after = run.window_start.metrics.get(metric), run.window_end.metrics.get(metric)
    return None if before is None or after is None else after - before


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def git_revision() -> str:
    """HEAD, plus a digest of uncommitted changes to the server's code, if any."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout

    try:
        rev = git("rev-parse", "--short", "HEAD").strip()
        diff = git("diff", "HEAD", "--", "app", "actors", "pyproject.toml", "config.toml")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not diff:
        return rev
    digest = hashlib.sha1(diff.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{rev} + uncommitted server changes (diff sha1 {digest})"


def render(run: Run, rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    lines = [
        f"| {'metric':<{width}} | {'value':<{value_width}} |",
        f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|",
    ]
    lines += [f"| {k:<{width}} | {v:<{value_width}} |" for k, v in rows]
    return "\n".join(lines)


def finish(run: Run) -> int:
    rows = report(run)
    table = render(run, rows)
    pinning = ", ".join(
        f"{who} on CPU {','.join(map(str, sorted(cpus)))}"
        for who, cpus in (("server", run.server_cpus), ("load generator", run.client_cpus))
        if cpus
    )
    findings = log_findings(run.server.log)
    notes = list(run.notes)
    if run.connect_errors:
        notes.append(f"connect errors, first: {run.connect_errors[0]}")
    others: Counter[str] = Counter()
    for worker in run.workers:
        notes += [f"server error frame: {s}" for s in worker.error_samples[:2]]
        others.update(worker.other_messages)
    if others:
        notes.append(
            "other messages to candidates: " + ", ".join(f"{k} x{v}" for k, v in others.items())
        )
    if run.admin_results and run.admin_results[0].other:
        counts = run.admin_results[0].other.most_common()
        notes.append(
            "admin 1 also got (not counted as deliveries): "
            + ", ".join(f"{k} x{v}" for k, v in counts)
        )
    if findings:
        notes.append(f"server log: {sum(findings.values())} warning/error/exception lines")
        notes += [f"  - {n} x `{text}`" for text, n in findings.most_common(8)]
    window_cpu = (run.window_end.client_cpu - run.window_start.client_cpu) / max(
        1e-9, (run.window_end.at_ns - run.window_start.at_ns) / 1e9
    )
    if run.client_cpus and run.window_end.at_ns and window_cpu > 0.85 * len(run.client_cpus):
        notes.append("load generator used >85% of its CPUs: it may be the bottleneck")
    entry = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{shlex.join(sys.orig_argv)}`",
        f"- machine: {machine()}",
        f"- pinning: {pinning or 'none'}",
        f"- code: {git_revision()}",
        f"- assessment `{run.assessment}`, set-up {run.setup_s:.1f} s (sessions), "
        f"{run.connect_s:.1f} s (sockets)",
        "",
        table,
        "",
    ]
    if notes:
        entry += ["Notes:", "", *(n if n.startswith("  - ") else f"- {n}" for n in notes), ""]
    text = "\n".join(entry)
    print()
    print(text, flush=True)
    if not run.args.no_results:
        fresh = not RESULTS_MD.exists()
        with RESULTS_MD.open("a", encoding="utf-8") as out:
            out.write(RESULTS_HEADER + "\n" if fresh else "\n")
            out.write(text)
        print(f"appended to {RESULTS_MD}")
    if run.server.log is not None and run.server.keep_storage:
        print(f"server log: {run.server.log}")
    return 1 if run.lost else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--candidates", type=int, default=1000, help="candidate sessions and sockets")
    add("--admins", type=int, default=1, help="admin sockets subscribed to the assessment")
    add(
        "--workers",
        type=int,
        default=min(4, max(2, (os.cpu_count() or 2) - 1)),
        help="candidate worker processes",
    )
    add("--rate", type=float, default=2000, help="total offered events/s over all candidates")
    add("--warmup", type=float, default=3, help="seconds of load before the measured window")
    add("--duration", type=float, default=20, help="seconds of the measured window")
    add("--drain", type=float, default=10, help="most seconds to wait for the last acks")
    add("--settle", type=float, default=2, help="idle seconds before the connected-RSS sample")
    add("--kill-after", type=float, help="SIGKILL the spawned server this many s after load starts")
    add("--url", help="target a running server (http://127.0.0.1:PORT) instead of spawning one")
    add("--admin-token", help="admin token of --url (default: $VIGIL_AUTH_ADMIN_TOKEN)")
    add("--server-pid", type=int, help="pid of the --url server, for its RSS and CPU")
    add("--vigil", default=str(Path(sys.executable).parent / "vigil"), help="server command")
    add("--storage-dir", help="storage dir of the spawned server (default: a temp dir, removed)")
    add("--assessment", help="assessment id (default: a fresh one)")
    add("--server-cpus", help="CPUs of the spawned server, e.g. 0 (default: the first)")
    add("--client-cpus", help="CPUs of the load generator (default: all but the server's)")
    add("--no-pin", action="store_true", help="do not pin anything to CPUs")
    add("--connect-concurrency", type=int, default=50, help="handshakes in flight per worker")
    add("--seed", type=int, default=1, help="seed of the event mix")
    add("--no-results", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.kill_after is not None and args.url:
        parser.error("--kill-after needs a spawned server; drop --url")
    if args.url and not (args.admin_token or os.environ.get("VIGIL_AUTH_ADMIN_TOKEN")):
        parser.error("--url needs --admin-token (or VIGIL_AUTH_ADMIN_TOKEN)")
    if min(args.candidates, args.workers) < 1 or args.admins < 0 or args.rate <= 0:
        parser.error("--candidates and --workers must be >= 1, --admins >= 0, --rate > 0")
    if args.kill_after is not None and not 0 <= args.kill_after < args.warmup + args.duration:
        parser.error("--kill-after must fall within --warmup + --duration")
    if min(args.warmup, args.drain, args.settle) < 0 or args.duration <= 0:
        parser.error("--duration must be > 0; --warmup, --drain and --settle >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.candidates + args.admins + 256
    if soft < need:  # the spawned server inherits this too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    temporary = None if args.url or args.storage_dir else tempfile.mkdtemp(prefix="vigil-load-")
    try:
        return finish(asyncio.run(coordinate(args, Path(args.storage_dir or temporary or "."))))
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
            print("(temporary storage removed; pass --storage-dir to keep the log and database)")


if __name__ == "__main__":
    sys.exit(main())
