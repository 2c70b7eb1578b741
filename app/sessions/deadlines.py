"""`DeadlineScheduler`: the one timer of every session actor (time limits, camera off).

One task owns a heap of (when, session id); an actor says when it next wants to wake with
`wake_at` (a later call replaces the earlier one; None cancels) and, when that time comes, gets a
`Tick` in its mailbox and decides for itself what is due, from its own record and the clock. So
thousands of sessions cost one task and one heap entry each, not a sleeping task per session,
and an evicted session's deadline still fires: the `Tick` loads it again.

Across a restart the heap is rebuilt from storage (`rebuild`): every open session of a timed
assessment wakes at its start plus the duration. That is a lower bound (extra time lives in the
session's sealed events); the loaded actor then sets its true deadline, and a deadline that
passed while the server was down fires at once.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskStatus

from actors.exam import ExamRecord, ends_at
from actors.messages import Message, Tick
from actors.registry import RegistryClosed, SessionFailed, UnknownSession
from app.storage.store import SqliteStore

log = logging.getLogger("vigil.deadlines")

Send = Callable[[str, Message], Awaitable[None]]


class DeadlineScheduler:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}  # session id -> its one live deadline
        self._changed = anyio.Event()
        self.fired_total = 0

    def wake_at(self, session_id: str, when: float | None) -> None:
        """Tick `session_id` at `when` (epoch seconds), instead of any earlier request."""
        if when is None:
            self._due.pop(session_id, None)  # its heap entry is skipped when it comes up
            return
        if self._due.get(session_id) == when:
            return
        self._due[session_id] = when
        heapq.heappush(self._heap, (when, session_id))
        if self._heap[0][1] == session_id:
            self._changed.set()

    def pending(self) -> int:
        return len(self._due)

    async def rebuild(self, store: SqliteStore) -> int:
        """Deadlines of the open sessions of timed assessments, from storage."""
        found = await store.timed_open_sessions()
        for session_id, when in found:
            if session_id not in self._due:
                self.wake_at(session_id, when)
        return len(found)

    async def session_created(
        self, store: SqliteStore, session_id: str, assessment_id: str, start: str
    ) -> None:
        """A new session of a timed assessment wakes at its start plus the duration, though no
        actor of it runs yet (its extra time, if any, is set by the actor it then loads)."""
        policy = await store.exam_policy(assessment_id)
        ends = ends_at(policy, ExamRecord(), start)
        if ends is not None and session_id not in self._due:
            self.wake_at(session_id, ends)

    async def run(
        self, send: Send, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            wait = self._next_wait()
            with anyio.move_on_after(wait):
                await self._changed.wait()
            self._changed = anyio.Event()
            for session_id in self._take_due():
                await self._tick(send, session_id)

    def _next_wait(self) -> float:
        while self._heap:
            when, session_id = self._heap[0]
            if self._due.get(session_id) != when:
                heapq.heappop(self._heap)  # replaced or cancelled
                continue
            return max(0.0, when - self._clock())
        return math.inf

    def _take_due(self) -> list[str]:
        now = self._clock()
        found = []
        while self._heap and self._heap[0][0] <= now:
            when, session_id = heapq.heappop(self._heap)
            if self._due.get(session_id) == when:
                del self._due[session_id]
                found.append(session_id)
        return found

    async def _tick(self, send: Send, session_id: str) -> None:
        # Overflow policy: a full mailbox makes this wait, like any sender; ticks are rare.
        try:
            await send(session_id, Tick())
            self.fired_total += 1
        except (UnknownSession, SessionFailed):
            log.info("session %s: its deadline came but the session is gone", session_id)
        except RegistryClosed:
            pass
