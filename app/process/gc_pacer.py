"""The cyclic garbage collector, run by the clock and by socket churn instead of by allocation
counts.

Python collects its young generation when allocations minus deallocations pass a threshold. A
live session replaces objects on every event: the coroutines and futures its socket reader,
actor and acknowledger wait on, about 30 tracked objects. Each new one is paid for by freeing an
old one, so the count hardly moves while the young generation fills up with replacements
(65-73k young objects at 2,000 candidates, with the count at ~18,600). With 10,000 candidates,
one young collection paused the loop for 135-147 ms. While those 10,000 sockets connected,
middle-generation collections paused it for about 300 ms, twice (benchmarks/RESULTS.md,
2026-11-23 06:24).

So while the server runs, automatic collection is off and `GcPacer` does this:
- Every `young_seconds` it collects the young generation. The pause lasts as long as what
  survived since the last tick takes to walk: a few ms at 2,000 events/s. Short-lived cycles
  (the HTTP parser a WebSocket upgrade leaves behind) are freed within a tick.
- It collects everything once a quarter as many sockets have closed as are open (at least
  `_MIN_CLOSED`), and at least every `full_seconds`. In steady state no cycles form among older
  objects; a closed connection's do, and wait for this pass, so they hold at most about a
  quarter more memory than the open sockets do. The pass walks everything alive, about 1 s
  with 10,000 candidates (docs/architecture.md, "Garbage collection"), which is why it waits
  for churn rather than running on a short clock.

Survivors of young collections wait in the middle generation, which only the full pass visits.
Reference counting frees everything else at once, as always.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import anyio

from app.telemetry.metrics import Histogram, Metrics

_PAUSE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_CHURN_SHARE = 0.25  # CPython's own rule for its oldest generation, applied to sockets
_MIN_CLOSED = 100

# Pacers running in this process. Tests run several servers in one process; the last one to
# stop turns automatic collection back on.
_running = 0


class GcPacer:
    def __init__(
        self,
        young_seconds: float,
        full_seconds: float,
        open_sockets: Callable[[], int],
        closed_sockets: Callable[[], int],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.young_seconds = young_seconds
        self.full_seconds = full_seconds
        self.open_sockets = open_sockets
        self.closed_sockets = closed_sockets
        self.clock = clock
        self.young_pauses = Histogram(_PAUSE_BUCKETS)
        self.full_pauses = Histogram(_PAUSE_BUCKETS)
        self.collected = 0
        self._full_at = clock()
        self._closed_at_full = closed_sockets()

    def register_metrics(self, metrics: Metrics) -> None:
        metrics.histogram("vigil_gc_young_pause_seconds",
                          "Event-loop pauses of the young-generation collections.",
                          self.young_pauses)  # fmt: skip
        metrics.histogram("vigil_gc_full_pause_seconds",
                          "Event-loop pauses of the full collections.",
                          self.full_pauses)  # fmt: skip
        metrics.counter("vigil_gc_collected_objects_total",
                        "Objects in reference cycles freed by the cyclic garbage collector.",
                        lambda: self.collected)  # fmt: skip

    async def run(self) -> None:
        """Collect on schedule until cancelled. With `young_seconds` 0, Python's own schedule
        (the thresholds `vigil serve` sets) stays in charge and this returns at once."""
        if self.young_seconds <= 0:
            return
        global _running
        _running += 1
        gc.disable()
        try:
            while True:
                await anyio.sleep(self.young_seconds)
                self.collect()
        finally:
            _running -= 1
            if _running == 0:
                gc.enable()

    def collect(self) -> None:
        """One tick: the young generation, or everything when the full pass is due."""
        full = self.full_due()
        started = self.clock()
        self.collected += gc.collect() if full else gc.collect(0)
        stopped = self.clock()
        if full:
            self.full_pauses.observe(stopped - started)
            self._full_at = stopped
            self._closed_at_full = self.closed_sockets()
        else:
            self.young_pauses.observe(stopped - started)

    def full_due(self) -> bool:
        closed = self.closed_sockets() - self._closed_at_full
        if closed >= max(_MIN_CLOSED, _CHURN_SHARE * self.open_sockets()):
            return True
        return self.clock() - self._full_at >= self.full_seconds
