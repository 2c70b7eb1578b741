"""The report of a run: percentiles, the table, the notes, and the record written under
benchmarks/results/."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import psutil  # type: ignore[import-untyped,unused-ignore]

from .record import Run
from .server import REPO, log_findings

BENCHMARKS: Final = Path(__file__).resolve().parents[1]
RESULTS_MD: Final = BENCHMARKS / "RESULTS.md"
RESULTS_DIR: Final = BENCHMARKS / "results"
RECORDS_HEADER: Final = """# Benchmark records, {day}

Every run's full record, in the order it was written (by `benchmarks/load.py`, `compare.py`,
`kafka.py` and `vision.py`); `benchmarks/RESULTS.md` holds only the current figure of each
benchmark. Each entry names the command, the machine and the commit. Times are UTC.
"""
# What git_revision() writes when the server's code differs from HEAD: such a run cannot be a
# current figure, since nobody can rerun it.
UNCOMMITTED: Final = "uncommitted server changes"


def percentile(ordered: Sequence[int], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] / 1e6


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def per_second(count: float | None, window_s: float) -> float | None:
    return None if count is None or window_s <= 0 else count / window_s


def report(run: Run) -> list[tuple[str, str]]:
    args, workers, admins = run.args, run.workers, run.admin_results
    start, end = run.window_start, run.window_end
    window_s = (end.at_ns - start.at_ns) / 1e9 if start.at_ns and end.at_ns else 0.0
    sent = sum(w.sent for w in workers)
    acked = sum(w.acked for w in workers)
    acked_window = sum(w.acked_window for w in workers)
    ack_lat = sorted(x for w in workers for x in w.ack_latency_ns)
    admin_lat = sorted(x for a in admins for x in a.latency_ns)
    server_cpu = end.server_cpu - start.server_cpu if window_s and run.server.pid else None
    client_cpu = end.client_cpu - start.client_cpu if window_s else None
    per_candidate = None
    if run.rss_before is not None and run.rss_connected is not None and run.connected:
        per_candidate = (run.rss_connected - run.rss_before) * 1024 / run.connected
    batches = delta(run, "vigil_journal_batches_total")
    commit_s = delta(run, "vigil_journal_commit_seconds_sum")
    errors: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    attach: Counter[str] = Counter()
    for w in workers:
        errors.update(w.errors)
        closes.update(w.closes)
        attach.update(w.attach_failures)
    server_pct = per_second(server_cpu, window_s)
    client_pct = per_second(client_cpu, window_s)
    rows = [
        ("candidates connected / created", f"{run.connected} / {run.candidates}"),
        ("admins connected", f"{run.admins_connected} / {args.admins}"),
        ("candidate worker processes", str(min(args.workers, max(1, run.candidates)))),
        ("measured window (s)", num(window_s, 1)),
        ("target rate (events/s)", num(args.rate)),
        ("offered (events/s)", num(per_second(sum(w.sent_window for w in workers), window_s))),
        ("acked, sustained (events/s)", num(per_second(acked_window, window_s))),
        (
            "admin deliveries (events/s, all admins)",
            num(per_second(sum(a.seen_window for a in admins), window_s)),
        ),
        (
            "send->admin latency p50 / p99 / p99.9 (ms)",
            " / ".join(ms(percentile(admin_lat, q)) for q in (0.5, 0.99, 0.999))
            if admin_lat
            else "n/a: no admin"
            if not admins
            else "n/a: no event sent in the window reached an admin",
        ),
        (
            "send->ack latency p50 / p99 / p99.9 / max (ms)",
            " / ".join(ms(percentile(ack_lat, q)) for q in (0.5, 0.99, 0.999, 1.0)),
        ),
        (
            "events sent / acked / seen by admin (min) at end",
            f"{sent:,} / {acked:,} / " + (f"{min(a.seen for a in admins):,}" if admins else "n/a"),
        ),
        ("events skipped by the generator", f"{sum(w.skipped for w in workers):,}"),
        (
            "server RSS before connect / connected / end (MB)",
            " / ".join(num(v, 1) for v in (run.rss_before, run.rss_connected, run.rss_end)),
        ),
        ("server memory per connected candidate (KB)", num(per_candidate, 1)),
        (
            "server CPU per 1000 acked events (s)",
            num(server_cpu * 1000 / acked_window, 3) if server_cpu and acked_window else "n/a",
        ),
        ("server CPU in window (% of one core)", num(server_pct and 100 * server_pct)),
        ("load generator CPU in window (% of one core)", num(client_pct and 100 * client_pct)),
        (
            "journal commits/s, mean commit (ms), events/commit",
            f"{num(per_second(batches, window_s))}, "
            f"{ms(commit_s * 1000 / batches if batches and commit_s is not None else None)}, "
            f"{num(acked_window / batches if batches else None, 1)}",
        ),
        (
            "server's share: read->commit p50 / p99 (ms, histogram bucket it falls in)",
            " / ".join(
                bucket_bound(run, "vigil_candidate_event_commit_seconds", q) for q in (0.5, 0.99)
            ),
        ),
        ("server error frames", ", ".join(f"{k}={v}" for k, v in errors.items()) or "0"),
        (
            "candidate sockets closed before their first ack (retried)",
            ", ".join(f"{k} x{v}" for k, v in attach.items()) or "0",
        ),
        ("unexpected candidate closes", ", ".join(f"{k} x{v}" for k, v in closes.items()) or "0"),
        ("admin closes", ", ".join(a.close for a in admins if a.close) or "0"),
    ]
    if run.killed_at_ns is not None:
        killed_s = (run.killed_at_ns - run.t0_ns) / 1e9
        rows.append(("server SIGKILLed at (s after load start)", num(killed_s, 2)))
    elif run.server.process is not None:
        rows.append(("server exit code after SIGTERM", str(run.exit_code)))
    if run.lost is not None:
        rows.append(("events stored in SQLite (with seq)", f"{run.stored:,}"))
        rows.append(("acked events lost", str(run.lost)))
    return rows


def delta(run: Run, metric: str) -> float | None:
    """Change of a server metric over the window; None when a scrape failed."""
    before, after = run.window_start.metrics.get(metric), run.window_end.metrics.get(metric)
    return None if before is None or after is None else after - before


def bucket_bound(run: Run, histogram: str, quantile: float) -> str:
    """The upper bound (ms) of the server histogram's bucket that holds `quantile` of what it
    observed in the window, such as "<= 5"; "n/a" when the scrapes do not have it."""
    total = delta(run, f"{histogram}_count")
    if not total:
        return "n/a"
    prefix = f'{histogram}_bucket{{le="'
    buckets = sorted(
        (float(name[len(prefix) : -2]), name)
        for name in run.window_end.metrics
        if name.startswith(prefix) and not name.endswith('"+Inf"}')
    )
    for bound, name in buckets:
        below = delta(run, name)
        if below is not None and below >= quantile * total:
            return f"<= {bound * 1000:g}"
    return f"> {buckets[-1][0] * 1000:g}" if buckets else "n/a"


def append_results(text: str) -> Path:
    """Append one run's record to today's file under benchmarks/results/ (creating it with its
    header). The current table in RESULTS.md is edited by hand: which run is the current figure
    of a benchmark is a judgement (standard settings, a quiet machine), not the latest write."""
    now = datetime.now(UTC)
    path = RESULTS_DIR / f"{now:%Y-%m-%d}.md"
    RESULTS_DIR.mkdir(exist_ok=True)
    fresh = not path.exists()
    with path.open("a", encoding="utf-8") as out:
        out.write(RECORDS_HEADER.format(day=f"{now:%Y-%m-%d}") + "\n" if fresh else "\n")
        out.write(text if text.endswith("\n") else text + "\n")
    print(f"recorded in {path}")
    if UNCOMMITTED in text:
        print(
            f"made with {UNCOMMITTED}: it cannot be a current figure in {RESULTS_MD}; "
            "commit, then rerun"
        )
    else:
        print(
            f"if this run is now the current figure of its benchmark, update its row in "
            f"{RESULTS_MD} by hand: figure, command, date, commit"
        )
    return path


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def git_revision() -> str:
    """HEAD, plus a digest of uncommitted changes to the server's code, if any."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout

    try:
        rev = git("rev-parse", "--short", "HEAD").strip()
        diff = git("diff", "HEAD", "--", "app", "actors", "pyproject.toml", "config.toml")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not diff:
        return rev
    digest = hashlib.sha1(diff.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{rev} + {UNCOMMITTED} (diff sha1 {digest})"


def render(run: Run, rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    lines = [
        f"| {'metric':<{width}} | {'value':<{value_width}} |",
        f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|",
    ]
    lines += [f"| {k:<{width}} | {v:<{value_width}} |" for k, v in rows]
    return "\n".join(lines)


def finish(run: Run) -> int:
    rows = report(run)
    table = render(run, rows)
    pinning = ", ".join(
        f"{who} on CPU {','.join(map(str, sorted(cpus)))}"
        for who, cpus in (("server", run.server_cpus), ("load generator", run.client_cpus))
        if cpus
    )
    findings = log_findings(run.server.log)
    notes = list(run.notes)
    if run.connect_errors:
        notes.append(f"connect errors, first: {run.connect_errors[0]}")
    others: Counter[str] = Counter()
    for worker in run.workers:
        notes += [f"server error frame: {s}" for s in worker.error_samples[:2]]
        others.update(worker.other_messages)
    if others:
        notes.append(
            "other messages to candidates: " + ", ".join(f"{k} x{v}" for k, v in others.items())
        )
    if run.admin_results and run.admin_results[0].other:
        counts = run.admin_results[0].other.most_common()
        notes.append(
            "admin 1 also got (not counted as deliveries): "
            + ", ".join(f"{k} x{v}" for k, v in counts)
        )
    if findings:
        notes.append(f"server log: {sum(findings.values())} warning/error/exception lines")
        notes += [f"  - {n} x `{text}`" for text, n in findings.most_common(8)]
    window_cpu = (run.window_end.client_cpu - run.window_start.client_cpu) / max(
        1e-9, (run.window_end.at_ns - run.window_start.at_ns) / 1e9
    )
    if run.client_cpus and run.window_end.at_ns and window_cpu > 0.85 * len(run.client_cpus):
        notes.append("load generator used >85% of its CPUs: it may be the bottleneck")
    entry = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{shlex.join(sys.orig_argv)}`",
        f"- machine: {machine()}",
        f"- pinning: {pinning or 'none'}",
        f"- code: {git_revision()}",
        f"- assessment `{run.assessment}`, set-up {run.setup_s:.1f} s (sessions), "
        f"{run.connect_s:.1f} s (sockets)",
        "",
        table,
        "",
    ]
    if notes:
        entry += ["Notes:", "", *(n if n.startswith("  - ") else f"- {n}" for n in notes), ""]
    text = "\n".join(entry)
    print()
    print(text, flush=True)
    if not run.args.no_results:
        append_results(text)
    if run.server.log is not None and run.server.keep_storage:
        print(f"server log: {run.server.log}")
    return 1 if run.lost else 0
