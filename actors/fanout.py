"""Fan-out to admins: channels and subscribers with bounded outboxes (fed after each commit by
`actors/commit_dispatch.py`).

A broadcast is encoded once per channel and the same bytes go to every subscriber. A subscriber
whose outbox is full is evicted on the spot, so one slow admin never holds up the others; it gets
a fresh snapshot when it subscribes again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final, Protocol

from actors import outbound
from actors.alerts import alerts_for
from actors.ports import EventEntry
from actors.state import SessionState

log = logging.getLogger("vigil.fanout")

ALERTS: Final = "alerts"
# Every session's events and states (an extension of CONTRACT.md section 5, for dashboards that
# watch everything); its snapshot holds the sessions that are not finished.
ALL_SESSIONS: Final = "sessions"


class Subscriber(Protocol):
    def offer(self, payload: bytes) -> bool:
        """Queue `payload` without waiting; False when the outbox is full."""

    def evict(self, reason: str) -> None:
        """Disconnect this subscriber (it fell behind)."""


def session_channel(session_id: str) -> str:
    return f"session:{session_id}"


def assessment_channel(assessment_id: str) -> str:
    return f"assessment:{assessment_id}"


def parse_channel(channel: str) -> tuple[str, str] | None:
    """("session", id), ("assessment", id), ("alerts", "") or ("sessions", ""); None if it is
    no channel."""
    if channel in (ALERTS, ALL_SESSIONS):
        return (channel, "")
    kind, sep, ident = channel.partition(":")
    if sep and ident and kind in ("session", "assessment") and len(ident) <= 200:
        return (kind, ident)
    return None


class Fanout:
    def __init__(self) -> None:
        self._channels: dict[str, set[Subscriber]] = {}
        self._subscriptions: dict[Subscriber, set[str]] = {}
        self.evicted_total = 0
        self.delivered_total = 0
        self.channels_changed = 0  # counts channels opened and closed (the cluster view polls it)

    def subscribe(
        self, subscriber: Subscriber, channel: str, sessions: Iterable[SessionState]
    ) -> None:
        """Send the snapshot, then every later message of `channel`; re-subscribing re-snapshots."""
        snapshot = outbound.encode(outbound.Snapshot(channel=channel, sessions=list(sessions)))
        if not self._deliver(subscriber, snapshot):
            return
        if channel not in self._channels:
            self.channels_changed += 1
        self._channels.setdefault(channel, set()).add(subscriber)
        self._subscriptions.setdefault(subscriber, set()).add(channel)

    def unsubscribe(self, subscriber: Subscriber, channel: str) -> None:
        members = self._channels.get(channel)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del self._channels[channel]
                self.channels_changed += 1
        channels = self._subscriptions.get(subscriber)
        if channels is not None:
            channels.discard(channel)

    def subscription_count(self, subscriber: Subscriber) -> int:
        return len(self._subscriptions.get(subscriber, ()))

    def remove(self, subscriber: Subscriber) -> None:
        for channel in self._subscriptions.pop(subscriber, set()):
            members = self._channels.get(channel)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self._channels[channel]
                    self.channels_changed += 1

    def watched_sessions(self) -> list[str]:
        """The ids of the sessions someone subscribed to by their own channel."""
        return [c[8:] for c in self._channels if c.startswith("session:")]

    def watched_assessments(self) -> list[str]:
        """The assessments someone subscribed to: every session of each is watched."""
        return [c[11:] for c in self._channels if c.startswith("assessment:")]

    def watching_assessment(self, assessment_id: str) -> bool:
        return assessment_channel(assessment_id) in self._channels

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    # --- publishing ----------------------------------------------------------------------------

    def publish_to_all(self, message: outbound.NodeStatus) -> None:
        payload = outbound.encode(message)
        for subscriber in list(self._subscriptions):
            self._deliver(subscriber, payload)

    def publish_state(
        self,
        state: SessionState,
        *,
        session: bool = True,
        assessment: bool = True,
        everything: bool = True,
    ) -> None:
        """Tell the channels chosen (the session's own, its assessment's, `sessions`) of a state
        change no stored event carries."""
        for channel in _chosen(
            state.sessionId, state.assessmentId, session, assessment, everything
        ):
            if channel in self._channels:
                self._broadcast(
                    channel,
                    outbound.encode(
                        outbound.StateMessage(
                            channel=channel, sessionId=state.sessionId, state=state
                        )
                    ),
                )

    def publish_event(
        self,
        entry: EventEntry,
        *,
        session: bool = True,
        assessment: bool = True,
        everything: bool = True,
        alerts: bool = True,
    ) -> None:
        """Tell the subscribed admins about a committed event. A local one goes everywhere; one
        of another node's sessions reaches this node twice, and each copy feeds its own channels
        (cluster_view.py): its full event to the session's and assessment's channels, its
        summary to `sessions` and `alerts`, so each event is shown once per channel."""
        for channel in _chosen(
            entry.session_id, entry.assessment_id, session, assessment, everything
        ):
            if channel in self._channels:
                message = outbound.EventMessage(
                    channel=channel,
                    sessionId=entry.session_id,
                    event=entry.event,
                    state=entry.state,
                )
                self._broadcast(channel, outbound.encode(message))
        if alerts and ALERTS in self._channels:
            for alert in alerts_for(
                entry.session_id, entry.assessment_id, entry.event, entry.violations
            ):
                self._broadcast(ALERTS, outbound.encode(alert))

    def _broadcast(self, channel: str, payload: bytes) -> None:
        for subscriber in list(self._channels.get(channel, ())):
            self._deliver(subscriber, payload)

    def _deliver(self, subscriber: Subscriber, payload: bytes) -> bool:
        if subscriber.offer(payload):
            self.delivered_total += 1
            return True
        self.evicted_total += 1
        self.remove(subscriber)
        subscriber.evict(
            "too slow: outbox full; reconnect and subscribe again for a fresh snapshot"
        )
        return False


def _chosen(
    session_id: str, assessment_id: str, session: bool, assessment: bool, everything: bool
) -> list[str]:
    chosen = [session_channel(session_id)] if session else []
    if assessment:
        chosen.append(assessment_channel(assessment_id))
    if everything:
        chosen.append(ALL_SESSIONS)
    return chosen
