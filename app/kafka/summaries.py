"""Which session states the mirror writes to the cluster topic, and when: at once with an event
that raises an alert or changes what overviews sort and filter on (status, connection, trust and
risk level), otherwise the newest state at most every `summary_interval_seconds` per session.
So a node that nobody on it watches a session of reads one small record a second per session,
whatever that session's event rate."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actors.alerts import alerts_for
from actors.state import SessionState
from app.kafka.cluster_records import SessionSummary

if TYPE_CHECKING:
    from app.kafka.mirror import FoldedEvent
    from app.storage.store import LoggedEvent


@dataclass(slots=True)
class _Last:
    sent_at: float
    sent: SessionState | None  # the state last written; None: nothing written yet
    pending: SessionSummary | None = None  # newer than `sent`, waiting for its turn


def _levels(state: SessionState) -> tuple[str, bool, str, str]:
    return (state.status, state.connected, state.trustLevel, state.riskLevel)


class SummaryThrottle:
    def __init__(self, node_id: str, interval: float, max_sessions: int) -> None:
        self._node = node_id
        self._interval = interval
        self._max = max_sessions
        # Bounded LRU: a session pushed out only loses its pending (not yet due) state, which
        # its next event replaces.
        self._sessions: OrderedDict[str, _Last] = OrderedDict()
        self._waiting: set[str] = set()  # sessions with a pending state
        self._checked_at = 0.0

    def offer(self, logged: LoggedEvent, folded: FoldedEvent) -> SessionSummary | None:
        """The summary to write now for this event, or None (it waits for `due`)."""
        now = time.monotonic()
        event, state = logged.event, folded.state
        last = self._sessions.get(logged.session_id)
        if last is None:
            last = self._sessions[logged.session_id] = _Last(sent_at=-self._interval, sent=None)
            if len(self._sessions) > self._max:
                forgotten, _ = self._sessions.popitem(last=False)
                self._waiting.discard(forgotten)
        self._sessions.move_to_end(logged.session_id)
        notable = (
            last.sent is None
            or _levels(last.sent) != _levels(state)
            or alerts_for(logged.session_id, logged.assessment_id, event, folded.violations)
        )
        summary = SessionSummary(
            nodeId=self._node,
            sessionId=logged.session_id,
            assessmentId=logged.assessment_id,
            offset=event.offset,
            state=state,
            event=event if notable else None,
            violations=folded.violations if notable else [],
        )
        if notable or now - last.sent_at >= self._interval:
            last.sent_at, last.sent, last.pending = now, state, None
            return summary
        last.pending = summary
        self._waiting.add(logged.session_id)
        return None

    @property
    def pending(self) -> bool:
        return bool(self._waiting)

    def due(self) -> list[SessionSummary]:
        """The pending states whose interval has passed (a session that went quiet still shows
        its last state within one interval)."""
        now = time.monotonic()
        if now - self._checked_at < self._interval / 4:
            return []  # a pass costs one step per waiting session: a few passes an interval
        self._checked_at = now
        found = []
        for session_id in list(self._waiting):
            last = self._sessions.get(session_id)
            pending = None if last is None else last.pending
            if last is None or pending is None:
                self._waiting.discard(session_id)
            elif now - last.sent_at >= self._interval:
                last.sent_at, last.sent, last.pending = now, pending.state, None
                self._waiting.discard(session_id)
                found.append(pending)
        return found
