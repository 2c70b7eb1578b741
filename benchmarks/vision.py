"""Vision benchmark (issue 5): frames/s per worker, and how many cameras one box carries.

    .venv/bin/python benchmarks/vision.py --workers 1,2 --cameras 40,80,120,250 --object-every 9
    .venv/bin/python benchmarks/vision.py --still --join-over 10 --warmup 20 --skip-analyzer
    .venv/bin/python benchmarks/vision.py --frames 5 --workers 1 --cameras 4 --no-results
    .venv/bin/python benchmarks/vision.py --skip-box --frames 40   # per frame, identity included

Per worker: a `FrameAnalyzer` in one process pinned to one core times 640x480 JPEGs of real
pictures (scikit-image's astronaut and coffee, insightface's t1.jpg), each frame shifted and given
sensor noise so no two are the same, with faces only and with objects.

The box: for each worker count and camera count, a fresh `vigil serve` (temporary storage,
unpinned) and N candidate sockets in this process, each sending one JPEG every `--period` seconds
(phases staggered over a period) and a heartbeat every `--heartbeat` seconds whose ack is timed,
while one admin socket subscribed to `sessions` hears every `frame_analyzed`. After `--warmup`,
the server's metrics, CPU (main process and workers apart) and RSS are sampled over `--duration`.
By default every camera joins within one period, as when an exam starts; the server checks a
camera for objects on its first frame and then every `object_every_seconds`, so those checks
stay in step. `--join-over 10` lets the cameras join over four periods instead, which spreads
the checks over their cycle (the row "object checks by period of the object cycle" shows which).

Verdict latency is frame sent -> `frame_analyzed` at the admin, for the verdicts with
received == 1 and skipped == 0 only: those are for the last frame their camera sent (numbered by
the server's own counts), while a verdict after skips could be for any of them. Frames that wait
long enough to cause skips are therefore under-represented; the server's own histogram
(`vigil_vision_verdict_seconds`, frame received -> verdict to the session, every analysed frame,
bucketed) is printed beside it.

With frames exactly `--period` apart the server's default object interval (10 s) is met only
when the fourth frame after a check starts its analysis no earlier than 10 s after that check's
did, which jitter decides; otherwise the check waits one more frame (12.5 s). `--object-every 9`
sets `vision.object_every_seconds` so that every fourth frame is checked.

A point is within the limit when under 1% of frames are skipped, every camera's median interval
between object checks is at most 10 s (+0.25 s for delivery jitter), and the heartbeat ack p99
is under `--beat-p99-ms`. The tables are printed and recorded under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
from collections.abc import Sequence
from pathlib import Path

# Run as a script, this file's directory is sys.path[0], so `loadgen` is importable from here.
from loadgen.ipc import run_async
from loadgen.report import append_results
from loadgen.vision_analyzer import AnalyzerRow, bench_analyzer
from loadgen.vision_box import run_point
from loadgen.vision_frames import IMAGES, frame_loop
from loadgen.vision_point import SERVER_OBJECT_EVERY_S, Point, PointSpec
from loadgen.vision_report import analyzer_table, box_rows, entry, limit_lines, table


def integers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def names(text: str) -> list[str]:
    found = [part for part in text.split(",") if part]
    unknown = [n for n in found if n not in IMAGES]
    if unknown or not found:
        raise argparse.ArgumentTypeError(f"expected names among {', '.join(IMAGES)}, got {text!r}")
    return found


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--frames", type=int, default=60, help="timed frames per image and stage, per worker")
    add("--analyzer-cpu", type=int, default=max(os.sched_getaffinity(0)), help="its CPU")
    add("--workers", type=integers, default=[1, 2], help="vision workers of the box, one run each")
    add("--cameras", type=integers, default=[100, 200, 250, 300, 400], help="camera counts")
    add("--still", action="store_true", help="nearly identical frames (noise only): reuse shows")
    add("--images", type=names, default=["astronaut"], help="what the cameras show, in turn")
    add("--period", type=float, default=2.5, help="seconds between a camera's frames")
    add(
        "--join-over",
        type=float,
        help="seconds over which the cameras join, in whole periods (default: one period, as "
        "when an exam starts; 10 spreads the server's object checks over their cycle)",
    )
    add("--heartbeat", type=float, default=5.0, help="seconds between a camera's heartbeats")
    add("--warmup", type=float, default=10, help="seconds of load before the measured window")
    add("--duration", type=float, default=30, help="seconds of the measured window")
    add("--drain", type=float, default=5, help="seconds to wait for the window's last verdicts")
    add("--queue-size", type=int, help="vision.queue_size of the server (default: config's)")
    add("--object-every", type=float, help="vision.object_every_seconds (default: config's)")
    add(
        "--face-backend",
        choices=["blazeface", "blazeface-short"],
        help="vision.face_backend of the analyzer and the server (default: config's)",
    )
    add(
        "--object-input",
        type=lambda text: tuple(int(side) for side in text.lower().split("x")),
        help="vision.object_input of the analyzer and the server, WxH such as 320x256 "
        "(default: config's)",
    )
    add(
        "--object-precision",
        choices=["int8", "fp32"],
        help="vision.object_precision of the server (default: config's; the per-worker table "
        "times both, in turn)",
    )
    add("--beat-p99-ms", type=float, default=50, help="heartbeat ack p99 within the limit")
    add("--vigil", default=str(Path(sys.executable).parent / "vigil"), help="server command")
    add("--seed", type=int, default=1, help="seed of the frames' shifts and noise")
    add("--skip-analyzer", action="store_true", help="no per-worker timing")
    add("--skip-box", action="store_true", help="no box runs")
    add("--no-results", action="store_true", help="do not record the run under benchmarks/results/")
    args = parser.parse_args(argv)
    if min(args.workers, default=0) < 1 or min(args.cameras, default=0) < 1:
        parser.error("--workers and --cameras need counts >= 1")
    if min(args.period, args.heartbeat, args.duration) <= 0 or min(args.warmup, args.drain) < 0:
        parser.error("--period, --heartbeat and --duration must be > 0; --warmup, --drain >= 0")
    args.join_over = args.period if args.join_over is None else args.join_over
    if not 0 <= args.join_over <= args.warmup:
        parser.error("--join-over must be within the warm-up: no camera may join in the window")
    args.storage_dir = None  # loadgen.server.spawn_server reads it
    args.object_target = SERVER_OBJECT_EVERY_S
    args.object_every_effective = args.object_every or SERVER_OBJECT_EVERY_S
    return args


def frame_pools(args: argparse.Namespace) -> dict[str, list[bytes]]:
    """Each image's loop of frames; cameras start at different places in it."""
    per_camera = math.ceil((args.warmup + args.duration + 1) / args.period) + 1
    count = max(32, 2 * per_camera)
    return {
        name: frame_loop(name, still=args.still, seed=args.seed + i, count=count)
        for i, name in enumerate(dict.fromkeys(args.images))
    }


async def run_box(args: argparse.Namespace) -> list[Point]:
    pools = frame_pools(args)
    points = []
    for workers in args.workers:
        for cameras in args.cameras:
            spec = PointSpec(workers=workers, cameras=cameras, still=args.still)
            print(f"box: {workers} worker(s), {cameras} cameras ...", flush=True)
            point = await run_point(args, spec, pools)
            points.append(point)
            print(table(("metric", ""), box_rows([point], args)), flush=True)
    return points


def notes_of(points: list[Point]) -> list[str]:
    notes = []
    for p in points:
        where = f"{p.spec.workers} worker(s), {p.spec.cameras} cameras"
        notes += [f"{where}: {n}" for n in p.notes]
        if p.exit_code != 0:
            notes.append(f"{where}: server exit code after SIGTERM {p.exit_code}")
        notes += [f"{where}: server log {n} x `{t}`" for t, n in p.log_findings.most_common(4)]
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(args.cameras) + 256
    if soft < need:  # the spawned server inherits this too
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    analyzer: list[AnalyzerRow] = []
    if not args.skip_analyzer:
        print(f"per worker: {args.frames} frames per image and stage, CPU {args.analyzer_cpu}")
        analyzer = bench_analyzer(
            args.analyzer_cpu,
            list(IMAGES),
            args.frames,
            args.seed,
            args.face_backend,
            args.object_input,
        )
        print(analyzer_table(analyzer), flush=True)
    points = [] if args.skip_box else run_async(run_box(args))
    text = entry(args, analyzer, points, notes_of(points))
    print()
    print(text, flush=True)
    if points:
        print("\n".join(limit_lines(points, args)))
    if not args.no_results:
        append_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
