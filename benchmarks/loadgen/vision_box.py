"""One point of the box benchmark: a fresh `vigil serve` with `workers` analysing processes, N
cameras sending a frame every `period` seconds, a warm-up, then the measured window, sampled at
both ends (server metrics, CPU of the server's main process, of its workers and of the box)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]

from .ipc import sleep_until_ns
from .server import (
    Server,
    create_sessions,
    log_findings,
    spawn_server,
    stop_server,
    tail,
    wait_healthy,
)
from .vision_cameras import Camera, attach_all, drive, open_admin, watch
from .vision_point import Point, PointSpec, Sample, Timing, summarise

VISION_READY_TIMEOUT_S = 180.0


async def run_point(
    args: argparse.Namespace, spec: PointSpec, pools: dict[str, list[bytes]]
) -> Point:
    storage = Path(tempfile.mkdtemp(prefix="vigil-vision-"))
    env = {"VIGIL_VISION_WORKERS": str(spec.workers)}
    if args.queue_size is not None:
        env["VIGIL_VISION_QUEUE_SIZE"] = str(args.queue_size)
    if args.object_every is not None:
        env["VIGIL_VISION_OBJECT_EVERY_SECONDS"] = str(args.object_every)
    if args.face_backend is not None:
        env["VIGIL_VISION_FACE_BACKEND"] = args.face_backend
    if args.object_input is not None:
        env["VIGIL_VISION_OBJECT_INPUT"] = str(list(args.object_input))
    # The int8 object model is made once for the run's servers, not once per fresh storage.
    env.setdefault("VIGIL_VISION_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "vigil-models"))
    if args.object_precision is not None:
        env["VIGIL_VISION_OBJECT_PRECISION"] = args.object_precision
    server = spawn_server(args, storage, None, env)
    try:
        await wait_healthy(server, timeout_s=60)
        await wait_vision(server)
        point = await measure(args, spec, server, pools)
    finally:
        exit_code = await asyncio.to_thread(stop_server, server)
        findings = log_findings(server.log)
        shutil.rmtree(storage, ignore_errors=True)
    point.exit_code = exit_code
    point.log_findings = findings
    return point


async def wait_vision(server: Server) -> None:
    """The workers load their models at start: wait for `vigil_vision_available 1`."""
    deadline = time.monotonic() + VISION_READY_TIMEOUT_S
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            metrics, _ = await scrape(server, client)
            if metrics.get("vigil_vision_available") == 1:
                return
            await asyncio.sleep(0.2)
    raise SystemExit(f"vision not available in {VISION_READY_TIMEOUT_S:.0f} s:\n{tail(server.log)}")


async def scrape(
    server: Server, client: httpx.AsyncClient
) -> tuple[dict[str, float], dict[str, float]]:
    """The plain metrics, and the buckets of `vigil_vision_verdict_seconds` by upper bound."""
    metrics: dict[str, float] = {}
    buckets: dict[str, float] = {}
    with contextlib.suppress(httpx.HTTPError):
        response = await client.get(
            f"{server.http}/metrics", headers={"Authorization": f"Bearer {server.token}"}
        )
        for line in response.text.splitlines():
            name, _, value = line.rpartition(" ")
            if not line or line.startswith("#"):
                continue
            if name.startswith('vigil_vision_verdict_seconds_bucket{le="'):
                buckets[name.split('"')[1]] = float(value)
            elif "{" not in name:
                metrics[name] = float(value)
    return metrics, buckets


async def sample(
    server: Server, workers: list[psutil.Process], client: httpx.AsyncClient
) -> Sample:
    metrics, buckets = await scrape(server, client)
    box = psutil.cpu_times()
    return Sample(
        at_ns=time.time_ns(),
        metrics=metrics,
        buckets=buckets,
        main_cpu=cpu_seconds([server.ps()]),
        workers_cpu=cpu_seconds(workers),
        generator_cpu=cpu_seconds([psutil.Process()]),
        box_busy_cpu=sum(box) - box.idle - getattr(box, "iowait", 0.0),
        main_rss_mb=rss_mb([server.ps()]),
        workers_rss_mb=rss_mb(workers),
        load1=psutil.getloadavg()[0],
    )


def cpu_seconds(processes: list[psutil.Process | None]) -> float:
    total = 0.0
    for process in processes:
        if process is not None:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def rss_mb(processes: list[psutil.Process | None]) -> float:
    total = 0
    for process in processes:
        if process is not None:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
    return total / 2**20


def server_workers(server: Server) -> list[psutil.Process]:
    """The analysing processes: the server's children but multiprocessing's resource tracker."""
    main = server.ps()
    if main is None:
        return []
    children = main.children(recursive=True)
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


async def measure(
    args: argparse.Namespace, spec: PointSpec, server: Server, pools: dict[str, list[bytes]]
) -> Point:
    sessions = await create_sessions(server, spec.cameras, f"vision-{uuid.uuid4().hex[:8]}")
    period_ns, beat_ns = round(args.period * 1e9), round(args.heartbeat * 1e9)
    # Phases are staggered evenly within a period; with --join-over, camera i also starts i mod
    # k periods later (k periods to join), which spreads the server's object checks over their
    # cycle while the frames stay evenly spread in time.
    join_periods = max(1, round(args.join_over / args.period))
    cameras = []
    for i, (session_id, token) in enumerate(sessions):
        frames = pools[args.images[i % len(args.images)]]
        phase = period_ns * i // len(sessions) + period_ns * (i % join_periods)
        cameras.append(Camera(session_id, token, frames, (i * 5) % len(frames), phase))
    admin_other: Counter[str] = Counter()
    admin = await open_admin(server.ws, server.token)
    watcher = asyncio.create_task(watch(admin, {c.session_id: c for c in cameras}, admin_other))
    readers: list[asyncio.Task[None]] = []
    attach_errors = await attach_all(cameras, server.ws, readers)
    workers = server_workers(server)
    t0 = time.time_ns() + 1_000_000_000
    w0 = t0 + round(args.warmup * 1e9)
    w1 = w0 + round(args.duration * 1e9)
    drivers = [asyncio.create_task(drive(c, t0, period_ns, beat_ns, w1)) for c in cameras]
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await sleep_until_ns(w0)
            start = await sample(server, workers, client)
            await sleep_until_ns(w1)
            end = await sample(server, workers, client)
        await asyncio.gather(*drivers)
        await asyncio.sleep(args.drain)  # the verdicts and acks of the window's last frames
    finally:
        for task in drivers:
            task.cancel()
        closers = [c.ws.close() for c in cameras if c.ws is not None] + [admin.close()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*closers, return_exceptions=True), 15)
        for task in [*readers, watcher]:
            task.cancel()
        await asyncio.gather(*readers, watcher, return_exceptions=True)
    cycle = max(1, round(args.object_every_effective / args.period))
    point = summarise(spec, cameras, start, end, Timing(t0, period_ns, cycle))
    if len(workers) != spec.workers:
        point.notes.append(f"expected {spec.workers} worker processes, found {len(workers)}")
    point.notes += [f"attach failed: {e}" for e in attach_errors[:3]]
    del admin_other["state"]  # a candidate connecting: expected, one per camera
    if admin_other:
        point.notes.append(
            "admin also got: " + ", ".join(f"{k} x{v}" for k, v in admin_other.most_common(6))
        )
    return point
