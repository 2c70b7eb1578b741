"""What happens after each commit of candidate and server events, in the journal's writer task
and without yielding, in commit order (so in order per session): ack the candidates, answer the
REST requests waiting for their event, then hand the admin updates to fan-out.

Nothing here runs before the commit: an ack, an answer or a broadcast means the event is on
disk (`app/storage/journal.py`)."""

from __future__ import annotations

from actors.fanout import Fanout
from actors.ports import EventEntry


class CommitDispatch:
    def __init__(self, fanout: Fanout) -> None:
        self._fanout = fanout

    def on_committed(self, entries: list[EventEntry]) -> None:
        publish = self._fanout.publish_event
        for entry in entries:
            if entry.acks is not None and entry.event.seq is not None:
                entry.acks.committed(entry.event.seq)
            if entry.committed is not None:
                entry.committed.set(entry)
            publish(entry)
