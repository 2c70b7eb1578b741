"""The one timer of every session (app/sessions/deadlines.py): thousands of deadlines on one
task, each fired once, not before its time and soon after it; a later request replaces an
earlier one, None cancels."""

from __future__ import annotations

import time

import anyio
import pytest

from actors.messages import Message, Tick
from app.sessions.deadlines import DeadlineScheduler

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_thousands_of_deadlines_fire_on_time_once_each() -> None:
    scheduler = DeadlineScheduler()
    fired: dict[str, float] = {}
    due: dict[str, float] = {}
    done = anyio.Event()
    count = 5000

    async def send(session_id: str, message: Message) -> None:
        assert isinstance(message, Tick)
        assert session_id not in fired, f"{session_id} fired twice"
        fired[session_id] = time.time()
        if len(fired) == count:
            done.set()

    start = time.time() + 0.2
    for index in range(count):
        due[f"s{index}"] = start + (index % 500) / 1000  # spread over half a second
        scheduler.wake_at(f"s{index}", due[f"s{index}"])
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run, send)
        with anyio.fail_after(10):
            await done.wait()
        tg.cancel_scope.cancel()
    late = [fired[key] - due[key] for key in due]
    assert min(late) >= 0, "a deadline fired early"
    assert max(late) < 0.25, f"a deadline fired {max(late):.3f} s late"
    assert scheduler.pending() == 0


async def test_a_later_request_replaces_and_none_cancels() -> None:
    scheduler = DeadlineScheduler()
    fired: list[str] = []
    second = anyio.Event()

    async def send(session_id: str, message: Message) -> None:
        fired.append(session_id)
        if session_id == "moved":
            second.set()

    now = time.time()
    scheduler.wake_at("cancelled", now + 0.05)
    scheduler.wake_at("cancelled", None)
    scheduler.wake_at("moved", now + 10)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run, send)
        scheduler.wake_at("moved", time.time() + 0.1)  # earlier: the sleeping task wakes for it
        with anyio.fail_after(5):
            await second.wait()
        tg.cancel_scope.cancel()
    assert fired == ["moved"]
