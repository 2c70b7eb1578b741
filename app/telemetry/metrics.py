"""Counters the edges keep, and the Prometheus text exposition of them and of the domain's."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Final

_COMMIT_BUCKETS: Final = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_EVENT_BUCKETS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value

    def render(self, name: str, help_text: str) -> list[str]:
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum {self.total:.6f}")
        lines.append(f"{name}_count {self.count}")
        return lines


class Metrics:
    """Plain counters, written by the one task that owns each (all on the event loop)."""

    def __init__(self) -> None:
        self.candidate_connections = 0
        self.admin_connections = 0
        self.events_received = 0
        self.events_rejected = 0
        self.error_replies_dropped = 0
        self.events_stored = 0
        self.frames_received = 0
        self.journal_errors = 0
        self.journal_batches = 0
        self.commit_seconds = Histogram(_COMMIT_BUCKETS)
        self.event_commit_seconds = Histogram(_EVENT_BUCKETS)
        self.http_requests = 0
        self.http_rate_limited = 0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.counters: dict[str, tuple[str, Callable[[], float]]] = {}
        self.histograms: dict[str, tuple[str, Histogram]] = {}

    def observe_commit(self, seconds: float) -> None:
        self.journal_batches += 1
        self.commit_seconds.observe(seconds)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def counter(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A counter another component keeps (and reads back here at each scrape)."""
        self.counters[name] = (help_text, read)

    def histogram(self, name: str, help_text: str, histogram: Histogram) -> None:
        self.histograms[name] = (help_text, histogram)

    def render(self) -> str:
        lines: list[str] = []

        def add(name: str, kind: str, help_text: str, value: float) -> None:
            lines.extend((f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"))

        add(
            "vigil_candidate_connections",
            "gauge",
            "Open candidate sockets.",
            self.candidate_connections,
        )
        add("vigil_admin_connections", "gauge", "Open admin sockets.", self.admin_connections)
        add(
            "vigil_events_received_total",
            "counter",
            "Candidate events decoded.",
            self.events_received,
        )
        add(
            "vigil_events_rejected_total",
            "counter",
            "Candidate frames refused (each answered with an error, bar a burst's excess).",
            self.events_rejected,
        )
        add(
            "vigil_error_replies_dropped_total",
            "counter",
            "Errors to refused candidate frames not sent: past a burst's first ones.",
            self.error_replies_dropped,
        )
        add(
            "vigil_events_stored_total",
            "counter",
            "Events committed to the journal.",
            self.events_stored,
        )
        add(
            "vigil_frames_received_total",
            "counter",
            "Webcam frames received.",
            self.frames_received,
        )
        add(
            "vigil_journal_batches_total",
            "counter",
            "Journal transactions committed.",
            self.journal_batches,
        )
        add(
            "vigil_journal_errors_total",
            "counter",
            "Journal commits that failed and were retried.",
            self.journal_errors,
        )
        add("vigil_http_requests_total", "counter", "HTTP requests served.", self.http_requests)
        add(
            "vigil_http_rate_limited_total",
            "counter",
            "Requests refused (429).",
            self.http_rate_limited,
        )
        lines.extend(
            self.commit_seconds.render(
                "vigil_journal_commit_seconds", "Time to write and commit one journal batch."
            )
        )
        lines.extend(
            self.event_commit_seconds.render(
                "vigil_candidate_event_commit_seconds",
                "From reading a candidate event off its socket to the commit that makes its ack "
                "due: the server's share of the ack latency.",
            )
        )
        for name, (help_text, read) in self.gauges.items():
            add(name, "gauge", help_text, read())
        for name, (help_text, read) in self.counters.items():
            add(name, "counter", help_text, read())
        for name, (help_text, histogram) in self.histograms.items():
            lines.extend(histogram.render(name, help_text))
        return "\n".join(lines) + "\n"
