"""Load benchmark: N candidate sockets at a paced total event rate while M admin sockets watch.

    .venv/bin/python benchmarks/load.py --candidates 200 --rate 1000 --duration 10
    .venv/bin/python benchmarks/load.py --candidates 200 --rate 1000 --duration 10 --kill-after 5
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --admin-token T --server-pid P

By default it spawns `vigil serve` on a free loopback port with a temporary storage dir, pinned to
CPU 0, and pins its own processes to the other CPUs. Candidates are spread over `--workers`
processes, admins have a process of their own; they meet the coordinator at absolute wall-clock
times (all processes share one clock, so `sentNs` in an event gives send->admin latency).
Each candidate's seq 1 is sent while connecting: its ack proves the session took the socket.
Rates and latencies cover only the measured window (after `--warmup`); the totals cover the
whole run. With `--kill-after` the server is SIGKILLed mid-run, and with any spawned server the
SQLite file is then checked: every acked seq must be in `events`. The table is printed and
recorded under benchmarks/results/ (one file a day).
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

# Run as a script, this file's directory is sys.path[0], so `loadgen` is importable from here;
# the spawned worker processes inherit that sys.path and find their entry points in it.
from loadgen.report import finish
from loadgen.run import coordinate


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--candidates", type=int, default=1000, help="candidate sessions and sockets")
    add("--admins", type=int, default=1, help="admin sockets subscribed to the assessment")
    add(
        "--workers",
        type=int,
        default=min(4, max(2, (os.cpu_count() or 2) - 1)),
        help="candidate worker processes",
    )
    add("--rate", type=float, default=2000, help="total offered events/s over all candidates")
    add("--warmup", type=float, default=3, help="seconds of load before the measured window")
    add("--duration", type=float, default=20, help="seconds of the measured window")
    add("--drain", type=float, default=10, help="most seconds to wait for the last acks")
    add("--settle", type=float, default=2, help="idle seconds before the connected-RSS sample")
    add("--kill-after", type=float, help="SIGKILL the spawned server this many s after load starts")
    add("--url", help="target a running server (http://127.0.0.1:PORT) instead of spawning one")
    add("--admin-token", help="admin token of --url (default: $VIGIL_AUTH_ADMIN_TOKEN)")
    add("--server-pid", type=int, help="pid of the --url server, for its RSS and CPU")
    add("--vigil", default=str(Path(sys.executable).parent / "vigil"), help="server command")
    add("--storage-dir", help="storage dir of the spawned server (default: a temp dir, removed)")
    add("--assessment", help="assessment id (default: a fresh one)")
    add("--server-cpus", help="CPUs of the spawned server, e.g. 0 (default: the first)")
    add("--client-cpus", help="CPUs of the load generator (default: all but the server's)")
    add("--no-pin", action="store_true", help="do not pin anything to CPUs")
    add("--connect-concurrency", type=int, default=50, help="handshakes in flight per worker")
    add("--seed", type=int, default=1, help="seed of the event mix")
    add("--no-results", action="store_true", help="do not record the run under benchmarks/results/")
    args = parser.parse_args(argv)
    if args.kill_after is not None and args.url:
        parser.error("--kill-after needs a spawned server; drop --url")
    if args.url and not (args.admin_token or os.environ.get("VIGIL_AUTH_ADMIN_TOKEN")):
        parser.error("--url needs --admin-token (or VIGIL_AUTH_ADMIN_TOKEN)")
    if min(args.candidates, args.workers) < 1 or args.admins < 0 or args.rate <= 0:
        parser.error("--candidates and --workers must be >= 1, --admins >= 0, --rate > 0")
    if args.kill_after is not None and not 0 <= args.kill_after < args.warmup + args.duration:
        parser.error("--kill-after must fall within --warmup + --duration")
    if min(args.warmup, args.drain, args.settle) < 0 or args.duration <= 0:
        parser.error("--duration must be > 0; --warmup, --drain and --settle >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.candidates + args.admins + 256
    if soft < need:  # the spawned server inherits this too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    temporary = None if args.url or args.storage_dir else tempfile.mkdtemp(prefix="vigil-load-")
    try:
        return finish(asyncio.run(coordinate(args, Path(args.storage_dir or temporary or "."))))
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
            print("(temporary storage removed; pass --storage-dir to keep the log and database)")


if __name__ == "__main__":
    sys.exit(main())
