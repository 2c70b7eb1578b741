"""The report of `benchmarks/kafka.py`: one column per run, and the notes that go under it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .kafka_consumer import ConsumerResult
from .kafka_record import Node, Outcome, Sample
from .report import ms, num, percentile

LAG_EVENTS: Final = "vigil_kafka_lag_events"
LAG_SECONDS: Final = "vigil_kafka_lag_seconds"
PUBLISHED: Final = "vigil_kafka_published_total"


def rows_of(out: Outcome) -> list[tuple[str, str]]:
    window, workers, consumer = out.window_s, out.workers, out.consumer
    acked_window = sum(w.acked_window for w in workers)
    ack_lat = sorted(x for w in workers for x in w.ack_latency_ns)
    lag = sorted(consumer.lag_ns) if consumer else []
    server_cpu = total(delta(n.cpu) for n in out.nodes)
    mirror_cpu = total(None if n.mirror_restarted else delta(n.mirror_cpu) for n in out.nodes)
    published = published_rate(out)
    stored = sum(n for node in out.nodes for n, _ in node.stored.values())
    missing = missing_events(out)
    c = consumer or ConsumerResult()
    got = (lambda text: text) if consumer else (lambda text: "n/a: no consumer result")

    def each(fn: Any) -> str:
        if len(out.nodes) == 1:
            return str(fn(out.nodes[0]))
        return "; ".join(f"{node.name}: {fn(node)}" for node in out.nodes)

    def per(cpu: float | None, events: float | None) -> str:
        return num(cpu * 1e6 / events if cpu is not None and events else None)

    def pct(seconds: float | None) -> str:
        return num(100 * seconds / window if seconds is not None else None)

    def both(cpu: float | None) -> float | None:
        return None if server_cpu is None or cpu is None else server_cpu + cpu

    rows = [
        ("nodes (cluster view)", f"{len(out.nodes)} ({'on' if len(out.nodes) > 1 else 'off'})"),
        ("target rate (events/s)", num(out.rate)),
        ("offered (events/s)", num(sum(w.sent_window for w in workers) / window)),
        ("acked (events/s)", num(acked_window / window)),
        ("published, server side (events/s)", num(published)),
        ("consumed, first arrivals (events/s)", got(num(c.distinct_window / window))),
        ("send->consumer lag p50 / p99 / max (ms)", quantiles(lag, (0.5, 0.99, 1.0))),
        ("send->ack p50 / p99 (ms)", quantiles(ack_lat, (0.5, 0.99))),
        (
            "mirror lag in the window's last second (events, s)",
            each(lambda n: lag_at(n.end_sample)),
        ),
        ("mirror lag, most seen in window (events, s)", each(lambda n: lag_pair(max_lag(n, out)))),
        ("mirror keeps up", each(lambda n: keeps_up(n, out))),
        ("events stored / consumed / missing", got(f"{stored:,} / {c.distinct:,} / {missing:,}")),
        ("repeats consumed (at least once)", got(num(c.received - c.distinct))),
        ("consumer had all, after SIGTERM (s)", num(out.caught_up_s, 2)),
        ("server CPU per acked event, mirror excluded (µs)", per(server_cpu, acked_window)),
        (
            "mirror CPU per acked / published event (µs)",
            f"{per(mirror_cpu, acked_window)} / "
            f"{per(mirror_cpu, published * window if published else None)}",
        ),
        ("server + mirror CPU per acked event (µs)", per(both(mirror_cpu), acked_window)),
        ("server CPU, mirror excluded (% of one core, all nodes)", pct(server_cpu)),
        ("mirror CPU (% of one core, all nodes)", pct(mirror_cpu)),
        (
            "server RSS connected / end, mirror excluded (MB)",
            each(lambda n: f"{num(n.rss_connected, 1)} / {num(n.rss_end, 1)}"),
        ),
        (
            "mirror RSS connected / end (MB)",
            each(lambda n: f"{num(n.mirror_rss_connected, 1)} / {num(n.mirror_rss_end, 1)}"),
        ),
        ("broker CPU (% of one core)", pct(delta(out.broker_cpu))),
        ("load gen + consumer CPU (% of one core)", pct(delta(out.client_cpu))),
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


def delta(series: Sequence[float | None]) -> float | None:
    """The change over the window, from the values at its start and end."""
    if len(series) != 2 or series[0] is None or series[1] is None:
        return None
    return series[1] - series[0]


def total(values: Any) -> float | None:
    """The sum, or None if any is unknown."""
    found = list(values)
    return None if not found or None in found else sum(found)


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
    rate = 0.0
    for node in out.nodes:
        samples = [s for s in node.samples if PUBLISHED in s.metrics]
        if node.end_sample is None or not samples or PUBLISHED not in node.end_sample.metrics:
            return None
        first = min(samples, key=lambda s: abs(s.at_ns - out.window_ns[0]))
        span = (node.end_sample.at_ns - first.at_ns) / 1e9
        if span <= 0:
            return None
        rate += (node.end_sample.metrics[PUBLISHED] - first.metrics[PUBLISHED]) / span
    return rate


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


def notes_of(o: Outcome) -> list[str]:
    """What the table does not show: errors, skips, late gauges, misleading gauges."""
    notes = [f"{o.label}: {n}" for n in o.notes]
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
                f"{LAG_EVENTS} stayed <= {most[0]:,.0f}"
            )
    return notes
