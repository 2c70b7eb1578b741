"""The tables of `benchmarks/vision.py`, where the limit is, and the entry for benchmarks/results/."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

from .report import git_revision, machine
from .vision_analyzer import AnalyzerRow
from .vision_frames import IMAGES
from .vision_point import OBJECT_SLACK_S, Point, quantile


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        lines.append(
            "| " + " | ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)) + " |"
        )
    return "\n".join(lines)


def f(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:,.{digits}f}"


def analyzer_table(rows: list[AnalyzerRow]) -> str:
    header = (
        "image",
        "stage",
        "frames",
        "median ms",
        "p90 ms",
        "frames/s",
        "faces found",
        "median decode / quality / faces / objects ms",
    )
    body = [
        (
            r.image,
            r.stage,
            str(r.frames),
            f(r.median_ms, 1),
            f(r.p90_ms, 1),
            f(r.per_s, 1),
            r.faces,
            r.stages_ms,
        )
        for r in rows
    ]
    return table(header, body)


def per_core(rows: list[AnalyzerRow], args: argparse.Namespace) -> list[str]:
    """Cameras one core could carry, from the per-worker means, for each image."""
    every = max(1, round(args.object_every_effective / args.period))
    out = []
    for image in dict.fromkeys(r.image for r in rows):
        mean = {r.stage: 1000 / r.per_s for r in rows if r.image == image}
        for objects in [stage for stage in mean if stage.startswith("faces + objects")]:
            moving = ((every - 1) * mean["faces"] + mean[objects]) / every
            still = ((every - 1) * mean["thumbnail"] + mean[objects]) / every
            model = "int8 objects" if objects.endswith("(int8)") else "fp32 objects"
            out.append(
                f"{image}, {model}: a camera costs {moving:.1f} ms per frame moving, "
                f"{still:.1f} ms still (objects on 1 frame in {every}), so one core carries "
                f"about {args.period * 1000 / moving:.0f} moving or "
                f"{args.period * 1000 / still:.0f} still cameras at one frame every "
                f"{args.period:g} s, before any overhead"
            )
        objects = (
            "faces + objects (int8)" if "faces + objects (int8)" in mean else "faces + objects"
        )
        moving = ((every - 1) * mean["faces"] + mean[objects]) / every
        identity = next((v for stage, v in mean.items() if stage.startswith("identity")), None)
        if identity is not None:
            # One comparison per `identity_every_seconds` (10 s by default) on a steady face.
            checked = max(1, round(10.0 / args.period))
            with_identity = moving + identity / checked
            out.append(
                f"{image}, {'int8' if objects.endswith('(int8)') else 'fp32'} objects and "
                f"identity checked every 10 s (1 frame in {checked}): "
                f"{with_identity:.1f} ms per moving frame, about "
                f"{args.period * 1000 / with_identity:.0f} moving cameras per core"
            )
    return out


def quantiles(values: list[float], *qs: float) -> str:
    return " / ".join(f(quantile(values, q)) for q in qs)


def _latency(p: Point) -> str:
    return f"{quantiles(p.verdict_ms, 0.5, 0.99)} (n={len(p.verdict_ms)})"


def _beats(p: Point) -> str:
    unacked = f", {p.beats_unacked} unacked" if p.beats_unacked else ""
    return quantiles(p.beat_ms, 0.5, 0.99, 1.0) + unacked


def _objects(p: Point) -> str:
    return f"{f(quantile(p.object_medians, 0.5), 1)} / {f(p.worst_object_interval(), 1)}"


def _worker_ms(p: Point) -> str:
    return f"{f(quantile(p.faces_ms, 0.5), 1)} / {f(quantile(p.objects_ms, 0.5), 1)}"


ROWS: Final[tuple[tuple[str, Callable[[Point], str]], ...]] = (
    ("cameras (connected)", lambda p: f"{p.spec.cameras} ({p.connected})"),
    ("frames offered / received (per s)", lambda p: f"{p.offered:.1f} / {p.received:.1f}"),
    ("analysed / reused (per s)", lambda p: f"{p.analysed:.1f} / {p.reused:.1f}"),
    ("skipped per s (% of received)", lambda p: f"{p.skipped:.1f} ({p.skipped_pct:.1f}%)"),
    (
        "sessions with skips; worst session's share",
        lambda p: f"{p.skipping_sessions}; {100 * p.worst_session_skipped:.0f}%",
    ),
    ("sessions with no verdict in the window", lambda p: str(p.silent_sessions)),
    ("verdict latency p50 / p99 (ms), matched frames", _latency),
    (
        "server verdict histogram p50 / p99 (ms)",
        lambda p: " / ".join(f(v) for v in p.server_verdict_ms),
    ),
    ("heartbeat ack p50 / p99 / max (ms)", _beats),
    ("object checks per camera: median of medians / worst (s)", _objects),
    (
        "cameras with objects at most every 10 s",
        lambda p: str(sum(1 for m in p.object_medians if m <= 10 + OBJECT_SLACK_S)),
    ),
    ("due object checks held while frames waited (per s)", lambda p: f"{p.held:.2f}"),
    (
        "object checks by period of the object cycle",
        lambda p: " / ".join(map(str, p.object_slots)) if len(p.object_slots) <= 12 else "-",
    ),
    ("worker ms per frame, faces / + objects (median)", _worker_ms),
    (
        "server CPU main / workers (% of one core)",
        lambda p: f"{p.main_cpu:.0f} / {p.workers_cpu:.0f}",
    ),
    ("server RSS main / workers (MB)", lambda p: f"{p.main_rss_mb:.0f} / {p.workers_rss_mb:.0f}"),
    (
        "generator / other processes CPU (% of one core)",
        lambda p: f"{p.generator_cpu:.0f} / {max(0.0, p.other_cpu):.0f}",
    ),
    ("load average (1 min), window start / end", lambda p: f"{p.load1[0]:.2f} / {p.load1[1]:.2f}"),
)


def box_rows(points: list[Point], args: argparse.Namespace) -> list[tuple[str, ...]]:
    rows = [(label, *(cell(p) for p in points)) for label, cell in ROWS]
    rows.append(("within the limit", *("; ".join(why(p, args)) or "yes" for p in points)))
    return rows


def why(point: Point, args: argparse.Namespace) -> list[str]:
    return point.within_limit(args.beat_p99_ms, args.object_target)


def limit_lines(points: list[Point], args: argparse.Namespace) -> list[str]:
    out = []
    for workers in dict.fromkeys(p.spec.workers for p in points):
        group = sorted(
            (p for p in points if p.spec.workers == workers), key=lambda p: p.spec.cameras
        )
        ok = [p for p in group if not why(p, args)]
        limit = max((p.spec.cameras for p in ok), default=None)
        line = f"{workers} worker(s): " + (
            f"the limit is {limit} cameras"
            if limit
            else "no camera count tried is within the limit"
        )
        past = [p for p in group if limit is None or p.spec.cameras > limit]
        if past:
            p = past[0]
            line += (
                f"; at {p.spec.cameras}: {'; '.join(why(p, args))}; {p.skipping_sessions} of "
                f"{p.spec.cameras} sessions had frames skipped (the worst "
                f"{100 * p.worst_session_skipped:.0f}% of its frames)"
            )
        out.append(line)
    return out


def conclusions(points: list[Point], args: argparse.Namespace) -> str:
    met = [
        f"{p.spec.cameras} cameras with {p.spec.workers} worker(s)"
        for p in points
        if p.spec.cameras >= 250 and not why(p, args)
    ]
    verdict = f"met ({', '.join(met)})" if met else "not met"
    return (
        f"Target (at least 250 cameras, one frame every {args.period:g} s, faces on every frame, "
        f"objects at least every {args.object_target:g} s per camera, heartbeat ack p99 under "
        f"{args.beat_p99_ms:g} ms, under 1% skipped), {'still' if args.still else 'moving'} "
        f"cameras: {verdict}."
    )


def setup(args: argparse.Namespace) -> list[str]:
    frames = "still (sensor noise only)" if args.still else "moving (shifted 4-24 px + noise)"
    shown = ", ".join(f"{name} ({IMAGES[name]})" for name in dict.fromkeys(args.images))
    return [
        f"- command: `{shlex.join(sys.orig_argv)}`",
        f"- machine: {machine()}",
        f"- code: {git_revision()}",
        f"- frames: 640x480 JPEG q80, {frames}; the cameras show {shown}",
        f"- load: per camera one frame every {args.period:g} s and one heartbeat every "
        f"{args.heartbeat:g} s; first frames spread over {args.join_over:g} s; warm-up "
        f"{args.warmup:g} s, window {args.duration:g} s",
        f"- server: fresh per point, unpinned, vision.queue_size="
        f"{args.queue_size or 'default'}, vision.object_every_seconds="
        f"{args.object_every or 'default'}, vision.face_backend="
        f"{args.face_backend or 'default'}, vision.object_input="
        f"{'x'.join(map(str, args.object_input)) if args.object_input else 'default'}, "
        f"vision.object_precision={args.object_precision or 'default'}",
    ]


def entry(
    args: argparse.Namespace, analyzer: list[AnalyzerRow], points: list[Point], notes: list[str]
) -> str:
    title = f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: vision (`benchmarks/vision.py`)"
    lines = [title, "", *setup(args), ""]
    if analyzer:
        lines += [f"Per worker (one process pinned to CPU {args.analyzer_cpu}):", ""]
        lines += [analyzer_table(analyzer), ""]
        lines += [f"- {line}" for line in per_core(analyzer, args)] + [""]
    for workers in dict.fromkeys(p.spec.workers for p in points):
        group = sorted(
            (p for p in points if p.spec.workers == workers), key=lambda p: p.spec.cameras
        )
        lines += [f"The box, {workers} worker(s):", ""]
        lines += [table(("metric", *("" for _ in group)), box_rows(group, args)), ""]
    if points:
        lines += ["Limit:", "", *(f"- {line}" for line in limit_lines(points, args)), ""]
        lines += [conclusions(points, args), ""]
    if notes:
        lines += ["Notes:", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)
