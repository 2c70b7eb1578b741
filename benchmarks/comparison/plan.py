"""What is run against each system, in one round: bring it up, step the offered rate up until it
is no longer sustained (the saturation), then run at 25%, 50% and 75% of that, and at the rate
every system shares (Vigil's 50% point)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .record import Point, SystemRun
from .session import Session

Cpus = tuple[frozenset[int] | None, frozenset[int] | None]
FRACTIONS = (("25%", 0.25), ("50%", 0.50), ("75%", 0.75))


def ladder_rates(args: argparse.Namespace) -> list[float]:
    rates, rate = [], float(args.start_rate)
    while rate <= args.max_rate:
        rates.append(rate)
        rate *= args.step_factor
    return rates


def show(name: str, point: Point) -> None:
    p = point.reply.get("latency") or {}
    cores = point.server_cores
    generator = point.generator_cores
    print(
        f"[{name}] {point.label:9} {point.rate:8,.0f}/s offered {point.offered:8,.0f} "
        f"delivered {point.delivered:8,.0f}  p50/p99 {p.get('p50', float('nan')):7.2f} / "
        f"{p.get('p99', float('nan')):7.2f} ms  server {100 * (cores or 0):3.0f}% "
        f"generator {100 * (generator or 0):3.0f}%  {point.failure or 'ok'}",
        flush=True,
    )
    if len(point.cpu_by_process) > 1 and point.window_s:
        shares = ", ".join(
            f"{k} {100 * v / point.window_s:.0f}%" for k, v in point.cpu_by_process.items()
        )
        print(f"[{name}]           server CPU by process: {shares}", flush=True)


class Measure:
    """One system in one round. Its session is replaced when an overloaded step left a backlog
    behind (a fresh system, so the backlog does not spill into the next step)."""

    def __init__(self, name: str, args: argparse.Namespace, folder: Path, cpus: Cpus) -> None:
        self.args, self.folder, self.cpus = args, folder, cpus
        self.run = SystemRun(name, 0)
        self.session = Session(name, args, folder, cpus)

    async def step(self, label: str, rate: float, ladder: bool) -> Point:
        args = self.args
        warmup, duration = (
            (args.ladder_warmup, args.ladder_duration) if ladder else (args.warmup, args.duration)
        )
        point = await self.session.step(label, rate, warmup, duration)
        if ladder:
            self.run.ladder.append(point)
        else:
            self.run.points[label] = point
        show(self.run.name, point)
        return point

    async def climb(self, rates: list[float], label: str) -> bool:
        """Steps up through `rates` until one is not sustained; True when all were."""
        for rate in rates:
            point = await self.step(label, rate, ladder=True)
            if not point.passed:
                self.run.limit = f"{rate:,.0f}/s: {point.failure}"
                return False
            self.run.saturation = point
            await self.fresh()
        return True

    async def descend(self, rates: list[float]) -> None:
        """The first rate failed: steps down until one is sustained."""
        for rate in rates:
            await self.fresh()
            point = await self.step("down", rate, ladder=True)
            if point.passed:
                self.run.saturation = point
                return
            self.run.limit = f"{rate:,.0f}/s: {point.failure}"

    async def search(self) -> None:
        args, run = self.args, self.run
        rates = ladder_rates(args)
        if await self.climb(rates, "ladder"):
            run.limit = f"none up to {rates[-1]:,.0f}/s (--max-rate)"
            return
        failed = run.ladder[-1].rate
        if run.saturation is None:
            down, rate = [], args.start_rate / args.step_factor
            while rate >= args.min_rate:
                down.append(rate)
                rate /= args.step_factor
            await self.descend(down)
            if run.saturation is None:
                return
            failed = min(
                p.rate for p in run.ladder if not p.passed and p.rate > run.saturation.rate
            )
        if args.refine_factor > 1:
            finer, rate = [], run.saturation.rate * args.refine_factor
            while rate < failed * 0.999:
                finer.append(rate)
                rate *= args.refine_factor
            limit = run.limit
            await self.fresh()
            if finer and await self.climb(finer, "refine"):
                run.limit = limit  # every finer rate held: the coarser failure stands

    async def fresh(self) -> None:
        last = self.run.ladder[-1] if self.run.ladder else None
        if last is None or last.reply.get("drained"):
            return
        print(f"[{self.run.name}] the last step did not drain: restarting", flush=True)
        await self.session.close()
        self.run.restarts += 1
        folder = self.folder / f"restart-{self.run.restarts}"
        self.session = Session(self.run.name, self.args, folder, self.cpus)
        await self.session.open(None)  # closed by measure_system's finally when this fails


async def measure_system(
    name: str,
    args: argparse.Namespace,
    folder: Path,
    cpus: Cpus,
    round_: int,
    same_rate: float | None,
) -> SystemRun:
    measure = Measure(name, args, folder, cpus)
    run = measure.run
    run.round = round_
    try:
        await measure.session.open(run)
        await measure.search()
        if run.saturation is None:
            run.notes.append(f"{name}: not sustained even at {args.min_rate:,.0f}/s")
            return run
        await measure.fresh()
        top = run.saturation.rate
        for label, fraction in FRACTIONS:
            await measure.step(label, top * fraction, ladder=False)
        if same_rate is not None and name != "vigil":
            await measure.step("same rate", same_rate, ladder=False)
        return run
    finally:
        await measure.session.close()
