"""When a session's state is written to storage: the one place that decides it.

The live state on the actor is the truth; `sessions.state` is a copy for lists and filters of
sessions not in memory (readers take the live one when there is one), so it may lag, but never
claims what is not so once the actor is gone. It is written:
- with the event that changes the session's status, connection, trust or risk level (what
  lists filter on), at once;
- otherwise with an event at most every `[storage] state_interval_seconds` per session, so a
  busy session costs one state row per interval, not one per event;
- when the actor stops, if anything changed since, and then disconnected: no candidate is
  connected to a session that is not in memory (`SessionActor.hand_back`).
After a crash the server marks every stored state disconnected once, at start, before any actor
runs (`journal.disconnect_stored_states`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from actors.state import SessionState

Essentials = tuple[str, bool, str, str]


def essentials(state: SessionState) -> Essentials:
    return (state.status, state.connected, state.trustLevel, state.riskLevel)


class StoredStateSchedule:
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._stored: Essentials | None = None  # unknown: the first event writes its state
        self._written_at = -math.inf
        self.pending = False  # an event was stored without its state since the last write

    def due(self, state: SessionState) -> bool:
        """Whether the event just folded into `state` carries it to storage; marks it written."""
        now = self._clock()
        found = essentials(state)
        if found == self._stored and now - self._written_at < self._interval:
            self.pending = True
            return False
        self._stored, self._written_at, self.pending = found, now, False
        return True

    def final_due(self) -> bool:
        """Whether the actor, stopping, must write its state: something changed since the last
        write, or that write says a candidate is connected."""
        return self.pending or (self._stored is not None and self._stored[1])
