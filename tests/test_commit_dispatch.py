"""After each commit: acks to candidates, answers to REST waiters, updates to admins, in
commit order; and the ack tracker's two fields, each with its one writer."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from actors.commit_dispatch import CommitDispatch
from actors.events import StoredEvent
from actors.fanout import Fanout, session_channel
from actors.ports import AckTracker, EventEntry
from actors.reply import Reply
from actors.state import SessionState
from tests.test_registry import FakeLink, _initial

pytestmark = pytest.mark.anyio


class Admin:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def offer(self, payload: bytes) -> bool:
        message = json.loads(payload)
        if message["type"] == "event":
            self.log.append(f"admin {message['event']['offset']}")
        return True

    def evict(self, reason: str) -> None:
        raise AssertionError(f"evicted: {reason}")


class Link(FakeLink):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def ack(self, seq: int) -> None:
        super().ack(seq)
        self.log.append(f"ack {seq}")


def entry(offset: int, seq: int | None, acks: AckTracker | None, **fields: Any) -> EventEntry:
    return EventEntry(
        session_id="s",
        assessment_id="exam",
        event=StoredEvent(type="heartbeat", offset=offset, ts="2026-11-22T10:00:00.000Z", seq=seq),
        state=msgspec.convert({**_initial("s"), "lastOffset": offset}, SessionState),
        violations=[],
        acks=acks,
        **fields,
    )


async def test_each_committed_event_is_acked_answered_and_broadcast_in_commit_order() -> None:
    log: list[str] = []
    fanout = Fanout()
    fanout.subscribe(Admin(log), session_channel("s"), [])
    link = Link(log)
    acks = AckTracker(0)
    acks.attach(link)
    waiter: Reply[EventEntry] = Reply()
    server_made = entry(2, None, None, committed=waiter)
    CommitDispatch(fanout).on_committed([entry(1, 1, acks), server_made, entry(3, 2, acks)])
    assert log == ["ack 1", "admin 1", "admin 2", "ack 2", "admin 3"]
    assert await waiter.wait() is server_made  # a REST call waiting for its event
    assert acks.committed_seq == 2


def test_the_tracker_acks_what_is_committed_to_whichever_link_is_attached() -> None:
    acks = AckTracker(5)  # what storage held when the actor was built
    first, second = FakeLink(), FakeLink()
    acks.attach(first)
    assert first.acks == [5]  # a reconnecting candidate learns at once what is stored
    acks.committed(4)  # older than known: nothing to say
    acks.committed(6)
    acks.detach()
    acks.committed(7)  # committed while nobody is connected
    acks.attach(second)  # replaced on reconnect: the new link starts from what is committed
    assert (first.acks, second.acks, acks.committed_seq) == ([5, 6], [7], 7)
