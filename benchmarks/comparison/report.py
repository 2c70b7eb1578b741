"""The comparison's table: per system (the median over rounds), the ratios Vigil/peer, the
issue's targets, and the entry recorded under benchmarks/results/."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from .record import Point, SystemRun

Metric = Callable[[SystemRun], float | None]


def median(runs: Sequence[SystemRun], metric: Metric) -> float | None:
    values = [v for run in runs if (v := metric(run)) is not None]
    return statistics.median(values) if values else None


def sat(run: SystemRun) -> float | None:
    return None if run.saturation is None else run.saturation.delivered


def latency_of(key: str) -> Callable[[Point], float | None]:
    return lambda point: point.latency(key)


def point_metric(label: str, read: Callable[[Point], float | None]) -> Metric:
    def metric(run: SystemRun) -> float | None:
        point = run.saturation if label == "saturation" else run.points.get(label)
        return None if point is None else read(point)

    return metric


def p99_same_rate(run: SystemRun) -> float | None:
    # Vigil's own 50% point is the rate every system shares.
    label = "50%" if run.name == "vigil" else "same rate"
    point = run.points.get(label)
    return None if point is None else point.latency("p99")


def fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def latency_cell(runs: Sequence[SystemRun], label: str) -> str:
    rate = median(runs, point_metric(label, lambda p: p.rate))
    if rate is None:
        return "n/a"
    parts = [ms(median(runs, point_metric(label, latency_of(k)))) for k in ("p50", "p99", "p999")]
    failed = [run.points[label].failure for run in runs if label in run.points]
    flag = f" ({failed[0]})" if any(failed) else ""
    return f"{rate:,.0f}/s: {' / '.join(parts)}{flag}"


def ack_cell(runs: Sequence[SystemRun]) -> str:
    p50 = median(runs, point_metric("50%", lambda p: p.ack_latency("p50")))
    p99 = median(runs, point_metric("50%", lambda p: p.ack_latency("p99")))
    return "n/a (none)" if p50 is None else f"{ms(p50)} / {ms(p99)}"


def saturation_cell(runs: Sequence[SystemRun]) -> str:
    """ ">=" when the generator, not the system, stopped the ladder (or --max-rate did)."""
    bound = any(run.limit.split(": ", 1)[-1].startswith("generator") for run in runs)
    bound = bound or any("it may be the limit" in run.limit for run in runs)
    bound = bound or any(run.limit.startswith("none up to") for run in runs)
    return (">= " if bound else "") + fmt(median(runs, sat))


def generator_peak(run: SystemRun) -> float | None:
    cores = [c for p in run.steps() if (c := p.generator_cores) is not None]
    return 100 * max(cores) if cores else None


def rows(by_system: dict[str, list[SystemRun]], same_rate: float | None) -> list[list[str]]:
    names = list(by_system)
    table = [["metric", *names]]

    def row(title: str, cell: Callable[[list[SystemRun]], str]) -> None:
        table.append([title, *(cell(by_system[name]) for name in names)])

    row("candidates / admins connected", lambda r: f"{r[0].connected} / {r[0].admins}")
    row("saturated events/s (delivered to the admin)", saturation_cell)
    row("ladder stopped at", lambda r: " | ".join(run.limit for run in r))
    for label, _ in (("25%", 0), ("50%", 0), ("75%", 0)):
        row(f"send->admin p50 / p99 / p99.9 ms at {label}", lambda r, x=label: latency_cell(r, x))
    same = f" ({same_rate:,.0f}/s, Vigil's 50%)" if same_rate else ""
    row(
        f"send->admin p99 ms at the same rate{same}",
        lambda r: ms(median(r, p99_same_rate)),
    )
    row("send->ack p50 / p99 ms at 50%", ack_cell)
    row(
        "server CPU s per 1,000 events, saturated / 50%",
        lambda r: (
            fmt(median(r, point_metric("saturation", lambda p: p.cpu_per_1000)), 3)
            + " / "
            + fmt(median(r, point_metric("50%", lambda p: p.cpu_per_1000)), 3)
        ),
    )
    row(
        "server CPU when saturated (% of one core)",
        lambda r: fmt(median(r, point_metric("saturation", lambda p: 100 * (p.server_cores or 0)))),
    )
    row(
        "server RSS before / all connected (MB)",
        lambda r: (
            fmt(median(r, lambda x: x.rss_before_mb), 1)
            + " / "
            + fmt(median(r, lambda x: x.rss_connected_mb), 1)
        ),
    )
    row(
        "memory per connected candidate (KB)",
        lambda r: fmt(median(r, lambda x: x.kb_per_candidate), 1),
    )
    row("generator CPU, busiest step (% of one core)", lambda r: fmt(median(r, generator_peak)))
    row("system restarts after an undrained step", lambda r: str(sum(x.restarts for x in r)))
    return table


def render(table: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(table[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in table[1:]:
        lines.append(
            "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        )
    return "\n".join(lines)


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def ratios(by_system: dict[str, list[SystemRun]]) -> list[str]:
    vigil = by_system.get("vigil")
    if vigil is None:
        return []
    lines = []
    for peer, runs in by_system.items():
        if peer == "vigil":
            continue
        cpu = point_metric("saturation", lambda p: p.cpu_per_1000)
        p99_own = point_metric("50%", lambda p: p.latency("p99"))
        lines.append(
            f"- Vigil/{peer}: saturated events/s {ratio(median(vigil, sat), median(runs, sat))}; "
            f"p99 at each one's 50% {ratio(median(vigil, p99_own), median(runs, p99_own))}; "
            f"p99 at the same rate {ratio(median(vigil, p99_same_rate), median(runs, p99_same_rate))}; "
            f"CPU per 1,000 events saturated {ratio(median(vigil, cpu), median(runs, cpu))}; "
            "memory per candidate "
            + ratio(
                median(vigil, lambda x: x.kb_per_candidate),
                median(runs, lambda x: x.kb_per_candidate),
            )
        )
    return lines


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "NOT met"


def targets(by_system: dict[str, list[SystemRun]]) -> list[str]:
    """Issue 26's targets: ratios against starlette-relay, the stack's own ceiling (issue 9's
    0.7x socketio-relay was above it), and issue 9's against seed-pipeline, which still hold."""
    vigil = by_system.get("vigil")
    if vigil is None:
        return []
    v_sat = median(vigil, sat)
    v_p99 = median(vigil, point_metric("50%", lambda p: p.latency("p99")))
    lines = []
    relay = by_system.get("starlette-relay")
    if relay is not None:
        r_sat = median(relay, sat)
        ok = None if v_sat is None or r_sat is None else v_sat >= 0.6 * r_sat
        lines.append(
            f"- Vigil saturated >= 0.6x starlette-relay (goal 0.7x): {fmt(v_sat)} vs "
            f"{fmt(r_sat)} ({ratio(v_sat, r_sat)}): {verdict(ok)}"
        )
        r_p99 = median(relay, p99_same_rate)
        ok = None if v_p99 is None or r_p99 is None else v_p99 <= 1.5 * r_p99
        lines.append(
            "- Vigil p99 at its 50% <= 1.5x starlette-relay's p99 at that rate (goal 1.2x): "
            f"{ms(v_p99)} vs {ms(r_p99)} ms ({ratio(v_p99, r_p99)}): {verdict(ok)}"
        )
    seed = by_system.get("seed-pipeline")
    if seed is not None:
        s_sat = median(seed, sat)
        ok = None if v_sat is None or s_sat is None else v_sat > s_sat
        lines.append(
            f"- Vigil saturated > seed-pipeline: {fmt(v_sat)} vs {fmt(s_sat)}: {verdict(ok)}"
        )
        s_p99 = median(seed, p99_same_rate)
        ok = None if v_p99 is None or s_p99 is None else v_p99 * 5 <= s_p99
        lines.append(
            "- Vigil p99 at 50% <= 1/5 of seed-pipeline's p99 at the same rate: "
            f"{ms(v_p99)} vs {ms(s_p99)} ms: {verdict(ok)}"
        )
    return lines
