"""The coordinator: brings up the server, creates the sessions, starts the admin and candidate
processes, hands over to the measurement, stops everything, then checks the journal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import queue
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from .admins import admin_main
from .candidates import candidate_main
from .ipc import CONTROL_SIZE, COUNTER_WIDTH, STOP, ChildSpec, Ready, pin
from .measure import measure
from .record import Run
from .server import (
    Server,
    create_sessions,
    require_loopback,
    rss_mb,
    spawn_server,
    stop_server,
    wait_healthy,
)


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


def check_journal(run: Run) -> None:
    """Every acked seq must be in `events` for its session (after a kill or a clean stop)."""
    assert run.server.storage is not None
    database = run.server.storage / "vigil.db"
    if not database.exists():
        run.notes.append(f"no {database}: acked-events check skipped")
        return
    stored: dict[str, set[int]] = {}
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        views = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
        # Servers before the event_log view kept session ids in events itself (A/B runs).
        table = "event_log" if "event_log" in views else "events"
        for session_id, seq in db.execute(
            f"SELECT session_id, seq FROM {table} WHERE seq IS NOT NULL"
        ):
            stored.setdefault(session_id, set()).add(int(seq))
    lost = count = 0
    for worker in run.workers:
        for session_id, _sent, acked in worker.sessions:
            have = stored.get(session_id, set())
            lost += sum(1 for seq in range(1, acked + 1) if seq not in have)
            count += len(have)
    run.lost, run.stored = lost, count
