"""One system brought up with its generator: connect the admins, then the candidates (with the
memory sampled in between), then paced steps with the CPU sampled at the window's edges."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped,unused-ignore]
from loadgen.server import cpu_seconds

from .mix import event_cycle
from .node import Generator
from .record import Point, SystemRun
from .systems import PROTOCOL_OF, System, start

ADMIN_SETTLE_S = 1.0


def rss_mb(pids: list[int]) -> float | None:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total / 2**20 if total else None


class Session:
    def __init__(
        self,
        name: str,
        args: argparse.Namespace,
        folder: Path,
        cpus: tuple[frozenset[int] | None, frozenset[int] | None],
    ) -> None:
        self.args = args
        self.system = System(name, folder, cpus[0])
        self.generator = Generator(cpus[1], folder / "generator.log")

    async def open(self, run: SystemRun | None) -> None:
        """Up, with everyone connected; fills in `run`'s connection and memory rows if given."""
        args = self.args
        print(f"[{self.system.name}] starting", flush=True)
        await start(self.system, args)
        config: dict[str, Any] = {
            "system": PROTOCOL_OF.get(self.system.name, self.system.name),
            "admins": args.admins,
            "mix": event_cycle(args.seed),
            "connectConcurrency": args.connect_concurrency,
            **self.system.generator_config,
        }
        await self.generator.start(config)
        admins = await self.generator.command({"cmd": "admins"}, timeout_s=60)
        await asyncio.sleep(ADMIN_SETTLE_S)
        before = rss_mb(self.system.pids())
        joined = await self.generator.command({"cmd": "candidates"}, timeout_s=120)
        await asyncio.sleep(args.settle)
        connected = rss_mb(self.system.pids())
        self.system.check_alive()
        print(
            f"[{self.system.name}] {joined['connected']}/{len(config['sessions'])} candidates "
            f"and {admins['connected']}/{args.admins} admins connected in "
            f"{joined['seconds']:.1f} s",
            flush=True,
        )
        if run is not None:
            run.candidates, run.connected = len(config["sessions"]), joined["connected"]
            run.admins, run.connect_s = admins["connected"], joined["seconds"]
            run.connect_error = joined["firstError"]
            run.rss_before_mb, run.rss_connected_mb = before, connected

    async def step(self, label: str, rate: float, warmup: float, duration: float) -> Point:
        point = Point(label=label, rate=rate, reply={})
        marks: dict[str, tuple[float, dict[str, float], float]] = {}
        generator_pid = self.generator.pid

        def on_edge(name: str) -> None:
            server = {k: cpu_seconds(v) for k, v in self.system.pids_by_name().items()}
            generator = cpu_seconds([generator_pid]) if generator_pid else 0.0
            marks[name] = (time.monotonic(), server, generator)

        command = {
            "cmd": "step",
            "rate": rate,
            "warmup": warmup,
            "duration": duration,
            "drain": self.args.drain,
        }
        timeout = warmup + duration + self.args.drain + 60
        reply = await self.generator.command(command, timeout_s=timeout, on_edge=on_edge)
        point.reply = reply
        if "start" in marks and "end" in marks:
            (t0, s0, g0), (t1, s1, g1) = marks["start"], marks["end"]
            point.window_s, point.generator_cpu_s = t1 - t0, g1 - g0
            point.cpu_by_process = {k: s1[k] - s0.get(k, 0.0) for k in s1}
            point.server_cpu_s = sum(point.cpu_by_process.values())
        point.failure = judge(point, self.args)
        busy = point.generator_cores
        if point.failure and busy is not None and busy > 0.9:
            point.failure += (
                f" (the generator used {100 * busy:.0f}% of its core: it may be the limit)"
            )
        self.system.check_alive()
        return point

    async def close(self) -> None:
        try:
            await self.generator.stop()
        finally:
            await asyncio.to_thread(self.system.stop)


def judge(point: Point, args: argparse.Namespace) -> str:
    """Why the step does not count as sustained, or "" when it does."""
    reply, rate = point.reply, point.rate
    if point.offered < 0.95 * rate:
        return f"generator offered only {point.offered:,.0f}/s"
    if point.delivered < args.min_delivered * point.offered:
        return f"admin got {point.delivered:,.0f}/s of {point.offered:,.0f}/s"
    acked = reply.get("ackedWindow")
    if acked is not None and acked / reply["windowS"] < args.min_delivered * point.offered:
        return f"acked {acked / reply['windowS']:,.0f}/s of {point.offered:,.0f}/s"
    p99 = point.latency("p99")
    if p99 is None:
        return "no event sent in the window reached an admin"
    if p99 > args.p99_bound_ms:
        return f"p99 {p99:,.0f} ms > {args.p99_bound_ms:g} ms"
    if reply["lost"]:
        return f"{reply['lost']:,} events not at the admin {args.drain:g} s after the step"
    if reply.get("unacked"):
        return f"{reply['unacked']:,} events not acked {args.drain:g} s after the step"
    if reply["errors"]:
        return "errors: " + ", ".join(f"{k} x{v}" for k, v in reply["errors"].items())
    return ""
