"""The Node side: `npm ci` into benchmarks/peers/node_modules when it is missing or stale, and
the load generator process (benchmarks/peers/generator/main.js), driven over its stdin and
stdout with one JSON object a line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

PEERS: Final = Path(__file__).resolve().parents[1] / "peers"
NODE_MODULES: Final = PEERS / "node_modules"
# npm ci writes this copy of the lock file; it differs from ours when the lock file changed.
INSTALLED_LOCK: Final = NODE_MODULES / ".package-lock.json"


def node_binary() -> str:
    found = shutil.which("node")
    if found is None:
        raise SystemExit("node not found: the peers and the load generator need Node.js 20.18+")
    return found


def ensure_node_modules() -> None:
    """`npm ci` (exact versions from package-lock.json) unless node_modules is up to date."""
    lock = PEERS / "package-lock.json"
    if INSTALLED_LOCK.exists() and INSTALLED_LOCK.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(f"npm not found: run `npm ci` in {PEERS} by hand")
    print(f"installing the peers' Node packages: npm ci in {PEERS}", flush=True)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=PEERS, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"npm ci failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def pinned(command: list[str], cpus: frozenset[int] | None) -> list[str]:
    taskset = shutil.which("taskset")
    if not cpus or taskset is None:
        return command
    return [taskset, "-c", ",".join(map(str, sorted(cpus))), *command]


class Generator:
    """One generator process per system run; `command` answers with the generator's reply and
    calls `on_edge("start" | "end")` when the measured window of a step opens and closes."""

    def __init__(self, cpus: frozenset[int] | None, log: Path) -> None:
        self.cpus, self.log = cpus, log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self, config: dict[str, Any]) -> dict[str, Any]:
        with self.log.open("wb") as sink:
            self.process = await asyncio.create_subprocess_exec(
                *pinned([node_binary(), "generator/main.js"], self.cpus),
                cwd=PEERS,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=sink,
                limit=2**24,  # a step's reply is one long line
            )
        return await self._send(config, "config", timeout_s=30)

    async def command(
        self,
        cmd: dict[str, Any],
        timeout_s: float,
        on_edge: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        return await self._send(cmd, None, timeout_s, on_edge)

    async def _send(
        self,
        message: dict[str, Any],
        expect: str | None,
        timeout_s: float,
        on_edge: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(message).encode() + b"\n")
        await process.stdin.drain()
        async with asyncio.timeout(timeout_s):
            while True:
                line = await process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the generator exited; its log:\n{self._tail()}")
                reply: dict[str, Any] = json.loads(line)
                if reply["event"] == "edge":
                    if on_edge is not None:
                        on_edge(reply["name"])
                    continue
                if reply["event"] == "fatal":
                    raise RuntimeError(f"the generator failed: {reply['message']}")
                if expect is not None and reply["event"] != expect:
                    raise RuntimeError(f"expected a {expect!r} reply, got {reply['event']!r}")
                return reply

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(RuntimeError, TimeoutError, OSError, ConnectionError):
            await self._send({"cmd": "quit"}, "bye", timeout_s=10)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    def _tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
