"""The measured run, seen from the coordinator: sets the clock for every process, samples CPU and
metrics at the window's edges, SIGKILLs the server when asked, prints a progress line a second,
and gathers what the children report."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import signal
import time
from typing import Any

from .ipc import COUNTER_WIDTH, DRAIN, EXPECTED, GO, STOP, T0, W0, W1, Done, sleep_until_ns
from .record import Run, Sample
from .server import cpu_seconds, scrape_metrics


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
