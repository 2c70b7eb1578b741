"""Cluster benchmark (issue 27): N Vigil nodes on this box on one Tansu broker, the same small load
on each node, and what the cluster costs each of them.

    .venv/bin/python benchmarks/cluster.py
    .venv/bin/python benchmarks/cluster.py --nodes 1,2,4,8 --sessions 5 --rate 10 --seconds 10

Rows:
- `remote`: two nodes, the load on node a only, nobody watching: node b's CPU above its own idle,
  per event of a's, against a's CPU per event (above its idle). The target: a remote event that
  none of a node's admins watches costs at most 5% of a local one.
- `remote, partitions read` (`--watched`): the same, with an admin on b subscribed to
  `assessment:quiet`, an assessment of a's with one quiet session in every partition: every
  partition is read, and each loaded (unwatched) event is dropped by key.
- `remote, assessment watched` (`--watched`): the same, with the admin on b subscribed to the
  loaded sessions' own assessment: b decodes and shows every one of a's events (CONTRACT.md
  section 5), the price of watching.
- one row per `--nodes` value: every node runs `--sessions` candidates at `--rate` events/s each,
  an admin on node b (the second) watches one of a's sessions (`session:<id>`) and all of
  `sessions` (the overview); each node's server CPU (its mirror child excluded) over the window;
  cross-node latency candidate send on a -> admin on b, p50/p99 (`data.sentNs`); the time from a
  session's creation answer on a to a successful subscribe on every other node.
Each server runs `vigil serve` as a process of its own; the candidates and admins are this
process's. Nothing is pinned: on a 2-core box the nodes share the cores with the broker and the
load, so per-node CPU is the figure to compare between rows, not the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psutil
from aiokafka.partitioner import murmur2
from loadgen.kafka_nodes import Broker, kill_broker, start_broker
from loadgen.report import append_results, git_revision, machine
from loadgen.server import Server, spawn_server, stop_server, wait_healthy
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent


def cpu_seconds(server: Server) -> float:
    times = psutil.Process(server.pid).cpu_times()
    return float(times.user + times.system)


async def start_nodes(
    args: argparse.Namespace, broker: Broker, count: int, root: Path
) -> list[Server]:
    servers = []
    for index in range(count):
        name = "abcdefghijklmnop"[index]
        env = {  # public_url: http://127.0.0.1:<port>, the address spawn_server gives it
            "VIGIL_SERVER_NODE_ID": name,
            "VIGIL_SERVER_LOG_LEVEL": "warning",
            "VIGIL_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "VIGIL_KAFKA_CLUSTER": "true",
            "VIGIL_VISION_ENABLED": "false",
        }
        servers.append(spawn_server(args, root / name, None, env))
    for server in servers:
        await wait_healthy(server, 60)
    await asyncio.sleep(3)  # every node hears every other's heartbeat
    return servers


async def create(
    server: Server, client: httpx.AsyncClient, assessment: str = "bench"
) -> tuple[str, str]:
    body = {"candidateEmail": "b@example.com", "candidateName": "Bench", "assessmentId": assessment}
    answer = await client.post(
        f"{server.http}/candidate-sessions",
        json=body,
        headers={"Authorization": f"Bearer {server.token}"},
    )
    answer.raise_for_status()
    created = answer.json()
    return created["id"], created["candidateToken"]


async def candidate(server: Server, session: tuple[str, str], rate: float, until: float) -> int:
    session_id, token = session
    sent = 0
    async with connect(f"{server.ws}/ws/candidate/{session_id}?token={token}") as ws:
        reader = asyncio.create_task(_drain(ws))
        start = time.monotonic()
        while time.monotonic() < until:
            sent += 1
            ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            data = {"sentNs": time.time_ns()}
            await ws.send(json.dumps({"type": "heartbeat", "seq": sent, "ts": ts, "data": data}))
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
        reader.cancel()
    return sent


async def _drain(ws: Any) -> None:
    async for _ in ws:
        pass


async def watch(
    server: Server, session_id: str, latencies: list[float], stop: asyncio.Event
) -> None:
    async with connect(f"{server.ws}/ws/admin?token={server.token}", max_queue=None) as ws:
        for channel in (f"session:{session_id}", "sessions"):
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        while not stop.is_set():
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                continue
            if message.get("type") == "event" and message["channel"].startswith("session:"):
                sent = (message["event"].get("data") or {}).get("sentNs")
                if sent:
                    latencies.append((time.time_ns() - sent) / 1e6)


async def visible_everywhere(servers: list[Server], client: httpx.AsyncClient) -> float:
    """ms from a session's creation answer on node a to a snapshot of it on every other node."""
    session_id, _ = await create(servers[0], client)
    started = time.monotonic()

    async def subscribe(server: Server) -> None:
        async with connect(f"{server.ws}/ws/admin?token={server.token}") as ws:
            await ws.send(json.dumps({"type": "subscribe", "channel": f"session:{session_id}"}))
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "snapshot":
                    return
                if message["type"] == "error":
                    raise SystemExit(f"session not visible on a node: {message}")

    await asyncio.gather(*(subscribe(s) for s in servers[1:]))
    return (time.monotonic() - started) * 1000


async def one_per_partition(server: Server, client: httpx.AsyncClient, partitions: int) -> None:
    """Quiet sessions of assessment `quiet` until one sits in every partition of the topic."""
    covered: set[int] = set()
    while len(covered) < partitions:
        session_id, _ = await create(server, client, "quiet")
        covered.add((murmur2(session_id.encode()) & 0x7FFFFFFF) % partitions)


async def hold(server: Server, channel: str, stop: asyncio.Event) -> None:
    """An admin subscribed to `channel` that reads everything it is sent until `stop`."""
    async with connect(f"{server.ws}/ws/admin?token={server.token}", max_queue=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)


async def remote_row(
    args: argparse.Namespace, broker: Broker, root: Path, watch: str = ""
) -> dict[str, Any]:
    servers = await start_nodes(args, broker, 2, root / f"remote{watch}")
    stop = asyncio.Event()
    watcher = None
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            sessions = [await create(servers[0], client) for _ in range(args.remote_sessions)]
            if watch == "quiet":
                await one_per_partition(servers[0], client, args.partitions)
        if watch:
            channel = "assessment:quiet" if watch == "quiet" else "assessment:bench"
            watcher = asyncio.create_task(hold(servers[1], channel, stop))
            await asyncio.sleep(2.0)  # subscribed, its partitions resumed
        idle = [cpu_seconds(s) for s in servers]
        await asyncio.sleep(args.seconds)
        idle = [cpu_seconds(s) - before for s, before in zip(servers, idle, strict=True)]
        before = [cpu_seconds(s) for s in servers]
        until = time.monotonic() + args.seconds
        sent = sum(
            await asyncio.gather(
                *(candidate(servers[0], s, args.remote_rate, until) for s in sessions)
            )
        )
        await asyncio.sleep(1.0)  # the mirror publishes the tail, b reads it
        used = [cpu_seconds(s) - b for s, b in zip(servers, before, strict=True)]
        stop.set()
        if watcher is not None:
            await watcher
    finally:
        for server in servers:
            stop_server(server)
    scale = args.seconds / (args.seconds + 1.0)
    local_us = (used[0] - idle[0] / scale) / sent * 1e6
    remote_us = (used[1] - idle[1] / scale) / sent * 1e6
    return {"events": sent, "local_us": local_us, "remote_us": remote_us, "idle": idle}


async def scale_row(
    args: argparse.Namespace, broker: Broker, count: int, root: Path
) -> dict[str, Any]:
    servers = await start_nodes(args, broker, count, root / f"n{count}")
    latencies: list[float] = []
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            sessions = [[await create(s, client) for _ in range(args.sessions)] for s in servers]
            visible = (
                [await visible_everywhere(servers, client) for _ in range(5)]
                if count > 1
                else [0.0]
            )
        watcher = (
            asyncio.create_task(watch(servers[1], sessions[0][0][0], latencies, stop))
            if count > 1
            else None
        )
        await asyncio.sleep(1.0)
        before = [cpu_seconds(s) for s in servers]
        until = time.monotonic() + args.seconds
        sent = sum(
            await asyncio.gather(
                *(
                    candidate(server, session, args.rate, until)
                    for server, mine in zip(servers, sessions, strict=True)
                    for session in mine
                )
            )
        )
        used = [cpu_seconds(s) - b for s, b in zip(servers, before, strict=True)]
        stop.set()
        if watcher is not None:
            await watcher
    finally:
        for server in servers:
            stop_server(server)
    ordered = sorted(latencies)
    return {
        "nodes": count,
        "events": sent,
        "cpu_per_node": statistics.mean(used) / args.seconds * 100,
        "cpu_max": max(used) / args.seconds * 100,
        "p50": ordered[len(ordered) // 2] if ordered else float("nan"),
        "p99": ordered[int(len(ordered) * 0.99)] if ordered else float("nan"),
        "seen": len(ordered),
        "visible_ms": max(visible),
    }


def summary_cost(count: int = 50_000) -> dict[str, float]:
    """µs of CPU a node spends on one other node's session summary it reads, without Kafka (the
    fetch is not in it): decoding and the view's update, with no admin here, and with one admin
    on the `sessions` overview (an encode and an outbox offer more)."""
    from actors.config import ScoringConfig
    from actors.fanout import Fanout
    from actors.lifecycle import summarize
    from actors.state import SessionInfo, SessionSnapshot
    from app.kafka.cluster_records import SessionSummary
    from app.kafka.cluster_view import ClusterView
    from app.settings import KafkaSettings

    class Sink:
        def offer(self, payload: bytes) -> bool:
            return True

        def evict(self, reason: str) -> None:
            raise AssertionError(reason)

    records = []
    for n in range(count):
        info = SessionInfo(sessionId=f"a-{n}", assessmentId="x", candidateName="Bench",
                           candidateEmail="b@example.com", startTime="2026-01-01T00:00:00Z",
                           tokenHash="")  # fmt: skip
        state = summarize(ScoringConfig(), info, SessionSnapshot(), connected=True)
        for offset in (1, 2):  # the first makes the session known; the second is timed
            summary = SessionSummary(
                nodeId="a", sessionId=info.sessionId, assessmentId="x", offset=offset, state=state
            )
            records.append(msgspec.json.encode(summary))
    found = {}
    for watched in (False, True):
        fanout = Fanout()
        if watched:
            fanout.subscribe(Sink(), "sessions", [])
        view = ClusterView(KafkaSettings(), "b", fanout)
        for record in records[::2]:
            view._on_cluster_record(record)
        started = time.process_time()
        for record in records[1::2]:
            view._on_cluster_record(record)
        found["overview" if watched else "alone"] = (time.process_time() - started) / count * 1e6
    return found


_WATCHING = {
    "remote": "nobody watching on b",
    "remote, partitions read": "an admin on b on `assessment:quiet` (a quiet session of a's in "
    "every partition), none on the loaded sessions",
    "remote, assessment watched": "an admin on b on the loaded sessions' `assessment:bench`",
}


def render(
    args: argparse.Namespace,
    remotes: list[tuple[str, dict[str, Any]]],
    rows: list[dict[str, Any]],
    summaries: dict[str, float],
) -> str:
    lines = [
        f"$ {shlex.join([sys.executable, *sys.argv])}",
        f"{machine()}, revision {git_revision()}",
        "",
        "a summary of another node's session, read (decoded, the view updated; the Kafka fetch "
        f"not included): {summaries['alone']:.1f} us with no admin here, "
        f"{summaries['overview']:.1f} us with one on the `sessions` overview",
        "",
    ]
    for label, remote in remotes:
        ratio = (
            remote["remote_us"] / remote["local_us"] * 100
            if remote["local_us"] > 0
            else float("nan")
        )
        lines += [
            f"{label}: {remote['events']} events on node a ({args.remote_sessions} candidates at "
            f"{args.remote_rate:g}/s), {_WATCHING[label]}",
            f"  local event on a: {remote['local_us']:.0f} us CPU; the same event on b: "
            f"{remote['remote_us']:.1f} us ({ratio:.1f}% of local; b's CPU above its own idle, "
            "so a figure near 0 or below it is within the noise); idle CPU a/b over "
            f"{args.seconds:g} s: {remote['idle'][0]:.2f}/{remote['idle'][1]:.2f} s",
            "",
        ]
    if not rows:
        return "\n".join(lines)
    lines += [
        f"per node: {args.sessions} candidates at {args.rate:g} events/s, {args.seconds:g} s window",
        "| nodes | events | server CPU per node (mean, max) | a -> admin on b p50 / p99 | "
        "new session visible on every node |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        latency = (
            f"{row['p50']:.0f} / {row['p99']:.0f} ms ({row['seen']} events)"
            if row["seen"]
            else "n/a"
        )
        lines.append(
            f"| {row['nodes']} | {row['events']} | {row['cpu_per_node']:.1f}%, {row['cpu_max']:.1f}% "
            f"| {latency} | {row['visible_ms']:.0f} ms (max of 5) |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="2,4,8", help="node counts, one row each")
    parser.add_argument("--sessions", type=int, default=5, help="candidates per node")
    parser.add_argument("--rate", type=float, default=10.0, help="events/s per candidate")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--remote-sessions", type=int, default=20)
    parser.add_argument("--remote-rate", type=float, default=25.0)
    parser.add_argument("--no-remote", action="store_true", help="skip the remote-cost row")
    parser.add_argument(
        "--watched", action="store_true", help="the remote-cost rows with an assessment watched"
    )
    parser.add_argument("--partitions", type=int, default=12, help="the topic's ([kafka])")
    parser.add_argument("--summaries-only", action="store_true", help="only the summary cost")
    parser.add_argument("--vigil", default=str(Path(sys.executable).parent / "vigil"))
    parser.add_argument("--storage-dir", default=None)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="vigil-cluster-bench-") as temporary:
        root = Path(args.storage_dir or temporary)
        remotes: list[tuple[str, dict[str, Any]]] = []
        rows = []
        if args.summaries_only:
            return render(args, [], [], summary_cost())
        arms = [] if args.no_remote else [("remote", "")]
        if args.watched:
            arms += [("remote, partitions read", "quiet"), ("remote, assessment watched", "all")]
        for label, watch in arms:
            broker = start_broker(root / f"broker-{uuid.uuid4().hex[:6]}.log", None)
            try:
                remotes.append((label, await remote_row(args, broker, root, watch)))
            finally:
                kill_broker(broker)
        for count in (int(n) for n in args.nodes.split(",") if n):
            broker = start_broker(root / f"broker-{count}.log", None)
            try:
                rows.append(await scale_row(args, broker, count, root))
            finally:
                kill_broker(broker)
        return render(args, remotes, rows, summary_cost())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    text = asyncio.run(run(args))
    print(text)
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    append_results(f"## {when} UTC: cluster (benchmarks/cluster.py)\n\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
