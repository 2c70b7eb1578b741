"""Vigil against the seeds' architecture (issue 9): the same load, from the same generator, on
the same machine, one system at a time.

    .venv/bin/python benchmarks/compare.py            # the full comparison (idle machine)
    .venv/bin/python benchmarks/compare.py --quick    # a smoke run, about 2 minutes
    .venv/bin/python benchmarks/compare.py --systems vigil,socketio-relay --rounds 2

Systems (benchmarks/peers/README.md says what each does and does not do):
- vigil: `vigil serve` as configured by config.toml (durable acks in SQLite, scoring), with
  vision and Kafka off;
- seed-pipeline: document 000 as its authors would build it: FastAPI + uvicorn takes an HTTP
  POST per event and produces it with aiokafka to a Tansu broker; a Node server consumes the
  topic with kafkajs and pushes each event to the admins over Socket.IO;
- starlette-relay: the contract's hot path alone on the design card's stack (uvicorn
  websockets-sansio, uvloop, httptools, deflate off, Starlette): decode with msgspec, ack at once,
  relay to the admins; no storage, scoring or auth. Issue 26's targets are ratios against it;
- socketio-relay: a bare Node Socket.IO server relaying candidate events to the admins;
- vigil-base: another build of Vigil (`--vigil-base CMD`, e.g. a script that runs a checkout of
  the commit before a change with `python -m app`), measured as a peer: before against after in
  one run, each at its own saturation and at Vigil's 50% rate.
Each system runs on the server CPU (its every process: for seed-pipeline the broker, uvicorn
and Node), the Node load generator on the other. Per system and round: bring it up, connect the
admins, sample RSS, connect the candidates, sample RSS again; then step the offered rate up
(the ladder) until a step is not sustained: the admin gets less than --min-delivered of what was
offered in the window (or, where there are acks, fewer are acked), the send->admin p99 passes
--p99-bound-ms, events are still missing --drain s after the step, or errors come back. The
highest sustained step is the saturation; then steps at 25%, 50% and 75% of it, and, for the
peers, at Vigil's 50% rate. Vigil runs first in each round (the peers need its 50% rate); the
peers alternate order from round to round. Rows show the median over rounds. The table, the
ratios Vigil/peer and the issue's targets are printed and recorded under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from comparison.node import ensure_node_modules
from comparison.plan import measure_system
from comparison.record import SystemRun
from comparison.results import write_entry
from comparison.systems import DEFAULT_SYSTEMS, SYSTEMS
from loadgen.ipc import pin
from loadgen.run import cpu_sets

VIGIL_EVENT_LIMIT = 100.0  # config.toml [limits] candidate_events_per_second

FULL = {
    "candidates": 1000,
    "start_rate": 1000.0,
    "step_factor": 1.25,
    "refine_factor": 1.08,
    "max_rate": 40000.0,
    "ladder_warmup": 3.0,
    "ladder_duration": 10.0,
    "warmup": 3.0,
    "duration": 20.0,
    "drain": 10.0,
    "settle": 2.0,
    "rounds": 2,
}
QUICK = {
    "candidates": 300,
    "start_rate": 400.0,
    "step_factor": 2.0,
    "refine_factor": 0.0,
    "max_rate": 20000.0,
    "ladder_warmup": 1.0,
    "ladder_duration": 2.0,
    "warmup": 1.0,
    "duration": 3.0,
    "drain": 3.0,
    "settle": 1.0,
    "rounds": 1,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="a smoke run: fewer candidates, short steps")
    add(
        "--systems",
        default=",".join(DEFAULT_SYSTEMS),
        help="comma-separated, from " + ", ".join(SYSTEMS),
    )
    add("--rounds", type=int, help="times every system is measured, alternating (full 2, quick 1)")
    add(
        "--candidates",
        type=int,
        help=f"candidates (full {FULL['candidates']}, quick {QUICK['candidates']})",
    )
    add("--admins", type=int, default=1, help="admins watching every session")
    add("--start-rate", type=float, help="first rate of the ladder (events/s)")
    add("--step-factor", type=float, help="each ladder step offers this times the last")
    add(
        "--refine-factor",
        type=float,
        help="finer steps between the last held and the failed rate; 0: none",
    )
    add("--max-rate", type=float, help="highest rate the ladder tries")
    add("--min-rate", type=float, default=50.0, help="lowest rate tried when the first fails")
    add("--ladder-warmup", type=float, help="seconds before each ladder step's window")
    add("--ladder-duration", type=float, help="seconds of each ladder step's window")
    add("--warmup", type=float, help="seconds before each latency step's window")
    add("--duration", type=float, help="seconds of each latency step's window (25/50/75%%)")
    add("--drain", type=float, help="most seconds to wait for a step's last deliveries")
    add("--settle", type=float, help="idle seconds before the connected-RSS sample")
    add(
        "--p99-bound-ms",
        type=float,
        default=250.0,
        help="a step whose p99 passes this is not sustained",
    )
    add(
        "--min-delivered",
        type=float,
        default=0.95,
        help="least delivered/offered of a sustained step",
    )
    add(
        "--connect-concurrency", type=int, default=50, help="connections in flight while connecting"
    )
    add(
        "--kafka-max-wait-ms",
        type=int,
        default=10,
        help="seed-pipeline's kafkajs maxWaitTimeInMs (its default, 5000, makes Tansu answer "
        "late: see benchmarks/peers/README.md)",
    )
    add("--seed", type=int, default=1, help="seed of the event mix")
    add(
        "--vigil", default=str(Path(sys.executable).parent / "vigil"), help="Vigil's server command"
    )
    add(
        "--vigil-base",
        help="another Vigil server command, measured as the peer `vigil-base` (added to "
        "--systems): the same load before and after a change, alternating, in one run",
    )
    add("--server-cpus", help="CPUs of the systems, e.g. 0 (default: the first)")
    add("--client-cpus", help="CPUs of the generator (default: all but the systems')")
    add("--no-pin", action="store_true", help="do not pin anything to CPUs")
    add("--keep-logs", action="store_true", help="keep the systems' logs and storage")
    add("--no-results", action="store_true", help="do not record the run under benchmarks/results/")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.vigil_base and "vigil-base" not in args.systems:
        args.systems.append("vigil-base")
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown or not args.systems:
        parser.error(f"--systems: expected some of {', '.join(SYSTEMS)}, got {unknown or 'none'}")
    if min(args.candidates, args.admins, args.rounds) < 1 or args.step_factor <= 1:
        parser.error("--candidates, --admins and --rounds must be >= 1, --step-factor > 1")
    # The generator spreads the rate over the candidates: keep Vigil's per-socket limit out of
    # the way only when the ladder's top would come near it.
    per_candidate = args.max_rate / args.candidates
    args.vigil_event_limit = 2 * per_candidate if per_candidate > 0.8 * VIGIL_EVENT_LIMIT else None
    args.url = None  # for loadgen.run.cpu_sets
    return args


def order(systems: list[str], round_: int) -> list[str]:
    """Vigil first (the peers' shared rate is its 50% point), the peers alternating."""
    peers = [s for s in systems if s != "vigil"]
    if round_ % 2:
        peers.reverse()
    return (["vigil"] if "vigil" in systems else []) + peers


async def compare(
    args: argparse.Namespace, folder: Path
) -> tuple[dict[str, list[SystemRun]], float | None]:
    cpus = cpu_sets(args)
    pin(cpus[1])
    by_system: dict[str, list[SystemRun]] = {name: [] for name in order(args.systems, 0)}
    same_rates: list[float] = []
    for round_ in range(args.rounds):
        same_rate: float | None = None
        for name in order(args.systems, round_):
            print(f"\n== round {round_ + 1}/{args.rounds}: {name}", flush=True)
            where = folder / f"round{round_ + 1}-{name}"
            run = await measure_system(name, args, where, cpus, round_, same_rate)
            by_system[name].append(run)
            if name == "vigil" and run.saturation is not None:
                same_rate = run.saturation.rate * 0.5
                same_rates.append(same_rate)
    same = sorted(same_rates)[len(same_rates) // 2] if same_rates else None
    return by_system, same


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_node_modules()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * args.candidates + 1024  # both ends of every connection live on this machine
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    folder = Path(tempfile.mkdtemp(prefix="vigil-compare-"))
    loads = [os.getloadavg()[0]]
    try:
        by_system, same_rate = asyncio.run(compare(args, folder))
        loads.append(os.getloadavg()[0])
        write_entry(args, by_system, same_rate, loads)
    finally:
        if args.keep_logs:
            print(f"logs and storage kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
