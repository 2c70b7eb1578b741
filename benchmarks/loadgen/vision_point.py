"""What one point of the box benchmark found, summarised from the cameras' records and the two
samples at the window's ends."""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections import Counter

from .vision_cameras import Camera, Verdict

SERVER_OBJECT_EVERY_S = 10.0  # config.toml's vision.object_every_seconds
# A per-camera interval between object checks counts as "every 10 s" up to this much over, for
# the jitter of when the admin socket hears of them.
OBJECT_SLACK_S = 0.25


@dataclasses.dataclass(frozen=True)
class PointSpec:
    workers: int
    cameras: int
    still: bool


@dataclasses.dataclass(frozen=True)
class Sample:
    at_ns: int
    metrics: dict[str, float]
    buckets: dict[str, float]  # vigil_vision_verdict_seconds, cumulative, by upper bound
    main_cpu: float
    workers_cpu: float
    generator_cpu: float
    box_busy_cpu: float
    main_rss_mb: float
    workers_rss_mb: float
    load1: float


@dataclasses.dataclass(frozen=True)
class Timing:
    t0_ns: int  # a camera's frame k is sent at t0 + its phase + k * period
    period_ns: int
    cycle: int  # frames per object check


@dataclasses.dataclass
class Point:
    spec: PointSpec
    window_s: float
    connected: int
    offered: float  # frames/s sent in the window
    received: float  # frames/s the server counted
    analysed: float
    reused: float
    skipped: float
    rejected: float
    held: float  # due object checks the server's budget put off (per s)
    verdict_ms: list[float]  # frame sent -> frame_analyzed at the admin, matched frames only
    server_verdict_ms: tuple[float | None, float | None]  # p50, p99 from the histogram
    beat_ms: list[float]
    beats_unacked: int
    object_medians: list[float]  # per camera, seconds; inf when no interval ended in the window
    object_slots: list[int]  # object checks in the window by frame number modulo the cycle
    faces_ms: list[float]  # the server's `ms` of analysed frames, without and with objects
    objects_ms: list[float]
    skipping_sessions: int
    worst_session_skipped: float  # share of its frames
    silent_sessions: int  # no verdict at all in the window
    main_cpu: float  # % of one core
    workers_cpu: float
    generator_cpu: float
    other_cpu: float  # the rest of the box (other processes)
    main_rss_mb: float
    workers_rss_mb: float
    load1: tuple[float, float]
    exit_code: int | None = None
    log_findings: Counter[str] = dataclasses.field(default_factory=Counter)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def skipped_pct(self) -> float:
        return 100 * self.skipped / self.received if self.received else 0.0

    def worst_object_interval(self) -> float:
        return max(self.object_medians, default=math.inf)

    def within_limit(self, beat_p99_ms: float, object_every_s: float) -> list[str]:
        """Why this point is past the limit; empty when it is within."""
        why = []
        if self.skipped_pct >= 1:
            why.append(f"{self.skipped_pct:.1f}% skipped")
        if self.worst_object_interval() > object_every_s + OBJECT_SLACK_S:
            why.append(f"objects every {self.worst_object_interval():.1f} s at worst")
        p99 = quantile(self.beat_ms, 0.99)
        if p99 is None or p99 >= beat_p99_ms:
            why.append(f"heartbeat ack p99 {p99 or math.nan:.0f} ms")
        if self.connected < self.spec.cameras:
            why.append(f"only {self.connected} cameras connected")
        return why


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def histogram_quantile(start: dict[str, float], end: dict[str, float], q: float) -> float | None:
    """Milliseconds, interpolated within the bucket, from the window's bucket deltas."""
    bounds = sorted((float(le), end[le] - start.get(le, 0.0)) for le in end)
    total = bounds[-1][1] if bounds else 0.0
    if total <= 0:
        return None
    lower, below = 0.0, 0.0
    for bound, cumulative in bounds:
        if cumulative >= q * total:
            if math.isinf(bound):
                return lower * 1000  # over the last finite bound: say "at least" that
            share = (q * total - below) / max(cumulative - below, 1e-9)
            return (lower + share * (bound - lower)) * 1000
        lower, below = bound, cumulative
    return None


def summarise(
    spec: PointSpec, cameras: list[Camera], start: Sample, end: Sample, timing: Timing
) -> Point:
    w0, w1 = start.at_ns, end.at_ns
    window_s = (w1 - w0) / 1e9

    def rate(metric: str) -> float:
        return (end.metrics.get(metric, 0.0) - start.metrics.get(metric, 0.0)) / window_s

    def within(at_ns: int) -> bool:
        return w0 <= at_ns < w1

    matched = [ms for c in cameras for ms in matched_latencies(c, w0, w1)]
    verdicts = [(c, v) for c in cameras for v in c.verdicts if within(v.at_ns)]
    analysed = [v for _, v in verdicts if not v.reused and v.ms is not None]
    skipped = Counter[str]()
    received = Counter[str]()
    for camera, verdict in verdicts:
        skipped[camera.session_id] += verdict.skipped
        received[camera.session_id] += verdict.received
    for camera in cameras:
        for at, count, total in camera.skipped_reports:
            if within(at):
                skipped[camera.session_id] += count
                received[camera.session_id] += total
    shares = [skipped[s] / received[s] for s in skipped if received[s] and skipped[s]]

    def pct(before: float, after: float) -> float:
        return (after - before) / window_s * 100

    main = pct(start.main_cpu, end.main_cpu)
    workers = pct(start.workers_cpu, end.workers_cpu)
    generator = pct(start.generator_cpu, end.generator_cpu)
    point = Point(
        spec=spec,
        window_s=window_s,
        connected=sum(1 for c in cameras if c.hello.is_set()),
        offered=sum(1 for c in cameras for t in c.sent_ns if within(t)) / window_s,
        received=rate("vigil_frames_received_total"),
        analysed=rate("vigil_vision_frames_analyzed_total"),
        reused=rate("vigil_vision_frames_reused_total"),
        skipped=rate("vigil_vision_frames_skipped_total"),
        rejected=rate("vigil_vision_frames_rejected_total"),
        held=rate("vigil_vision_object_checks_held_total"),
        verdict_ms=[ms for ms in matched if ms >= 0],
        server_verdict_ms=(
            histogram_quantile(start.buckets, end.buckets, 0.5),
            histogram_quantile(start.buckets, end.buckets, 0.99),
        ),
        beat_ms=[lat / 1e6 for c in cameras for sent, lat in c.beat_latency if within(sent)],
        beats_unacked=sum(1 for c in cameras for sent in c.beats_sent.values() if within(sent)),
        object_medians=[object_median(c.verdicts, w0, w1) for c in cameras],
        object_slots=object_slots(cameras, w0, w1, timing),
        faces_ms=[v.ms for v in analysed if not v.objects and v.ms is not None],
        objects_ms=[v.ms for v in analysed if v.objects and v.ms is not None],
        skipping_sessions=len(shares),
        worst_session_skipped=max(shares, default=0.0),
        silent_sessions=sum(1 for c in cameras if not any(within(v.at_ns) for v in c.verdicts)),
        main_cpu=main,
        workers_cpu=workers,
        generator_cpu=generator,
        other_cpu=pct(start.box_busy_cpu, end.box_busy_cpu) - main - workers - generator,
        main_rss_mb=end.main_rss_mb,
        workers_rss_mb=end.workers_rss_mb,
        load1=(start.load1, end.load1),
    )
    if wrong := sum(1 for ms in matched if ms < 0):
        point.notes.append(f"{wrong} verdicts came before their frame was sent: numbering is off")
    return point


def matched_latencies(camera: Camera, w0: int, w1: int) -> list[float]:
    """Send -> verdict at the admin, in ms, for the frames sent in the window whose verdict
    says received == 1 and skipped == 0: nothing else came from that camera since its previous
    verdict, so the verdict is for its frame number `frame` (the server's own count)."""
    out = []
    for verdict in camera.verdicts:
        if verdict.received != 1 or verdict.skipped != 0 or verdict.frame > len(camera.sent_ns):
            continue
        sent = camera.sent_ns[verdict.frame - 1]
        if w0 <= sent < w1:
            out.append((verdict.at_ns - sent) / 1e6)
    return out


def object_slots(cameras: list[Camera], w0: int, w1: int, timing: Timing) -> list[int]:
    """How many object checks were on frames sent in each period of the cycle (frames per
    check): [a, b, c, d] with a in periods 0, 4, 8..., b in periods 1, 5, 9... Even counts mean
    the workers see the same load every period; uneven ones, a burst every cycle. A verdict is
    placed by its arrival, assuming it came within a period of its frame."""
    slots = [0] * timing.cycle
    for camera in cameras:
        in_period = camera.phase_ns % timing.period_ns
        for verdict in camera.verdicts:
            if verdict.objects and w0 <= verdict.at_ns < w1:
                period = (verdict.at_ns - timing.t0_ns - in_period) // timing.period_ns
                slots[period % timing.cycle] += 1
    return slots


def object_median(verdicts: list[Verdict], w0: int, w1: int) -> float:
    """Median seconds between a camera's object checks, over the intervals that end in the
    window (the first may start in the warm-up); inf when none does."""
    checks = [v.at_ns for v in verdicts if v.objects]
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(checks) if w0 <= b < w1]
    return statistics.median(gaps) if gaps else math.inf
