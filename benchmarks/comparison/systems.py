"""The systems under test, each brought up on loopback on the server CPUs and taken down again:
Vigil (`vigil serve`), seed-pipeline (Tansu broker, FastAPI on uvicorn, the Node push server)
and socketio-relay (one Node server). Each knows every process it started, so CPU and memory
cover all of them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import psutil  # type: ignore[import-untyped,unused-ignore]
from loadgen.kafka_nodes import TANSU
from loadgen.server import create_sessions, free_port, spawn_server, wait_healthy

from .node import PEERS, node_binary, pinned

SYSTEMS: Final = ("vigil", "vigil-base", "starlette-relay", "seed-pipeline", "socketio-relay")
# What compare.py measures unless told: vigil-base needs a command of its own.
DEFAULT_SYSTEMS: Final = ("vigil", "starlette-relay", "seed-pipeline", "socketio-relay")
# The generator's adapter for a system that speaks another's protocol.
PROTOCOL_OF: Final = {"vigil-base": "vigil", "starlette-relay": "vigil"}
TOPIC_PARTITIONS: Final = 12  # as Vigil's own mirror creates its topic (config.toml)


class System:
    """A running system: its processes (name -> Popen) and what the generator needs."""

    def __init__(self, name: str, folder: Path, cpus: frozenset[int] | None) -> None:
        self.name, self.folder, self.cpus = name, folder, cpus
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.generator_config: dict[str, Any] = {}
        self.notes: list[str] = []

    def pids(self) -> list[int]:
        """Every process of the system, with their children."""
        return [pid for pids in self.pids_by_name().values() for pid in pids]

    def pids_by_name(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for name, process in self.processes.items():
            found[name] = [process.pid]
            with contextlib.suppress(psutil.Error):
                children = psutil.Process(process.pid).children(recursive=True)
                found[name] += [child.pid for child in children]
        return found

    def spawn(self, name: str, command: list[str], env: Mapping[str, str] | None = None) -> Path:
        log = self.folder / f"{name}.log"
        with log.open("wb") as sink:
            self.processes[name] = subprocess.Popen(
                pinned(command, self.cpus),
                cwd=PEERS,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return log

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise SystemExit(
                    f"{self.name}: {name} exited with {process.returncode}:\n{self.tail(name)}"
                )

    def tail(self, name: str, lines: int = 20) -> str:
        log = self.folder / f"{name}.log"
        text = log.read_text(errors="replace") if log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def wait_line(self, name: str, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        log = self.folder / f"{name}.log"
        while time.monotonic() < deadline:
            self.check_alive()
            if log.exists() and text in log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.1)
        raise SystemExit(f"{self.name}: {name} did not print {text!r} in {timeout_s:.0f} s")

    def stop(self) -> None:
        """SIGTERM in reverse start order, SIGKILL what is left after 10 s."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


async def wait_port(system: System, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        system.check_alive()
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        await asyncio.sleep(0.05)
    raise SystemExit(f"{system.name}: nothing listened on {port} within {timeout_s:.0f} s")


def fake_sessions(count: int) -> list[tuple[str, str]]:
    return [(str(uuid.uuid4()), "") for _ in range(count)]


async def start_vigil(system: System, args: argparse.Namespace) -> None:
    await _start_vigil(system, args, args.vigil)


async def start_vigil_base(system: System, args: argparse.Namespace) -> None:
    """Another build of Vigil (`--vigil-base`), measured as a peer: before against after."""
    if not args.vigil_base:
        raise SystemExit("--systems vigil-base needs --vigil-base CMD (a server command)")
    await _start_vigil(system, args, args.vigil_base)


async def _start_vigil(system: System, args: argparse.Namespace, command: str) -> None:
    spawn_args = argparse.Namespace(vigil=command, storage_dir=None)
    server = spawn_server(spawn_args, system.folder / "storage", system.cpus, vigil_env(args))
    assert server.process is not None
    system.processes[system.name] = server.process
    await wait_healthy(server, timeout_s=60)
    assessment = f"compare-{uuid.uuid4().hex[:8]}"
    sessions = await create_sessions(server, args.candidates, assessment)
    system.generator_config = {
        "wsBase": server.ws,
        "adminToken": server.token,
        "assessmentId": assessment,
        "sessions": sessions,
    }


def vigil_env(args: argparse.Namespace) -> dict[str, str]:
    """Vigil's configuration in this benchmark: config.toml, less vision and Kafka; the
    per-socket event limit is raised only when the load would reach it (see compare.py)."""
    env = {"VIGIL_VISION_ENABLED": "false", "VIGIL_KAFKA_BOOTSTRAP_SERVERS": ""}
    if args.vigil_event_limit is not None:
        env["VIGIL_LIMITS_CANDIDATE_EVENTS_PER_SECOND"] = f"{args.vigil_event_limit:g}"
        env["VIGIL_LIMITS_CANDIDATE_EVENTS_BURST"] = str(max(500, int(args.vigil_event_limit)))
    return env


async def start_seed_pipeline(system: System, args: argparse.Namespace) -> None:
    broker_port, push_port, api_port = free_port(), free_port(), free_port()
    listener = f"tcp://127.0.0.1:{broker_port}"
    system.spawn(
        "tansu",
        [str(TANSU), "broker", "--listener-url", listener, "--advertised-listener-url", listener],
    )
    await wait_port(system, broker_port, timeout_s=15)
    kafka = {"KAFKA_BROKERS": f"127.0.0.1:{broker_port}", "KAFKA_TOPIC": "assessment_activity"}
    push_env = {
        **kafka,
        "PORT": str(push_port),
        "KAFKA_PARTITIONS": str(TOPIC_PARTITIONS),
        "KAFKA_MAX_WAIT_MS": str(args.kafka_max_wait_ms),
    }
    system.spawn("push", [node_binary(), "seed-pipeline/push.js"], push_env)
    # The consumer's group join waits about half of kafkajs's 30 s session timeout on Tansu.
    await system.wait_line("push", "ready", timeout_s=90)
    api = [sys.executable, "-m", "uvicorn", "api:app", "--app-dir", "seed-pipeline"]
    api += ["--host", "127.0.0.1", "--port", str(api_port), "--no-access-log"]
    api_env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka["KAFKA_BROKERS"],
        "KAFKA_TOPIC": "assessment_activity",
    }
    system.spawn("api", api, api_env)
    await wait_port(system, api_port, timeout_s=60)
    system.generator_config = {
        "httpBase": f"http://127.0.0.1:{api_port}",
        "adminUrl": f"http://127.0.0.1:{push_port}",
        "assessmentId": f"compare-{uuid.uuid4().hex[:8]}",
        "sessions": fake_sessions(args.candidates),
    }


async def start_socketio_relay(system: System, args: argparse.Namespace) -> None:
    port = free_port()
    system.spawn("relay", [node_binary(), "socketio-relay/relay.js"], {"PORT": str(port)})
    await system.wait_line("relay", "ready", timeout_s=30)
    system.generator_config = {
        "adminUrl": f"http://127.0.0.1:{port}",
        "assessmentId": f"compare-{uuid.uuid4().hex[:8]}",
        "sessions": fake_sessions(args.candidates),
    }


async def start_starlette_relay(system: System, args: argparse.Namespace) -> None:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "relay:app", "--app-dir", "starlette-relay"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    command += ["--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"]
    command += ["--ws-per-message-deflate", "false"]
    system.spawn("relay", command)
    await wait_port(system, port, timeout_s=30)
    system.generator_config = {
        "wsBase": f"ws://127.0.0.1:{port}",
        "adminToken": "",
        "assessmentId": f"compare-{uuid.uuid4().hex[:8]}",
        "sessions": fake_sessions(args.candidates),
    }


STARTERS: Final = {
    "vigil": start_vigil,
    "vigil-base": start_vigil_base,
    "starlette-relay": start_starlette_relay,
    "seed-pipeline": start_seed_pipeline,
    "socketio-relay": start_socketio_relay,
}


async def start(system: System, args: argparse.Namespace) -> None:
    """Brings `system` up; on failure what did start is still in `system.processes`."""
    system.folder.mkdir(parents=True, exist_ok=True)
    await STARTERS[system.name](system, args)
