"""The server under test: spawn `vigil serve` (or point at a running one on loopback), wait for
it to be healthy, create its sessions, read its metrics, RSS, CPU and log, and stop it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]

REPO: Final = Path(__file__).resolve().parents[2]


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
    args: argparse.Namespace,
    storage: Path,
    server_cpus: frozenset[int] | None,
    env_overrides: Mapping[str, str] | None = None,
) -> Server:
    """`env_overrides` win over the defaults below (benchmarks/kafka.py turns Kafka on)."""
    storage.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "VIGIL_STORAGE_DIR": str(storage),
        "VIGIL_AUTH_ADMIN_TOKEN": token,
        "VIGIL_SERVER_HOST": "127.0.0.1",
        "VIGIL_SERVER_PORT": str(port),
        "VIGIL_KAFKA_BOOTSTRAP_SERVERS": "",
        **(env_overrides or {}),
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


async def scrape_metrics(
    server: Server, client: httpx.AsyncClient | None = None
) -> dict[str, float]:
    """With no `client`, a fresh one (creating one costs ~90 ms of client CPU: its TLS context)."""
    values: dict[str, float] = {}
    with contextlib.suppress(httpx.HTTPError):
        async with contextlib.AsyncExitStack() as stack:
            if client is None:
                client = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
            response = await client.get(
                f"{server.http}/metrics", headers={"Authorization": f"Bearer {server.token}"}
            )
        for line in response.text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#"):
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
