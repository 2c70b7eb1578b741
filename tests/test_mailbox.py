"""The bounded mailbox: order, back-pressure, close-then-drain, and cancellation."""

from __future__ import annotations

import anyio
import pytest

from actors.mailbox import Doorbell, Mailbox

pytestmark = pytest.mark.anyio


async def test_fifo_and_bounded() -> None:
    box: Mailbox[int] = Mailbox(2)
    box.put_nowait(1)
    await box.put(2)
    with pytest.raises(anyio.WouldBlock):
        box.put_nowait(3)
    assert [box.get_nowait(), await box.get()] == [1, 2]
    with pytest.raises(anyio.WouldBlock):
        box.get_nowait()


async def test_a_full_mailbox_makes_producers_wait_in_order() -> None:
    box: Mailbox[int] = Mailbox(1)
    box.put_nowait(0)
    async with anyio.create_task_group() as tg:
        for value in (1, 2, 3):
            tg.start_soon(box.put, value)
            await anyio.wait_all_tasks_blocked()
        assert box.waiting_senders == 3
        received = [await box.get() for _ in range(4)]
    assert received == [0, 1, 2, 3]


async def test_the_consumer_waits_for_an_item() -> None:
    box: Mailbox[str] = Mailbox(4)
    got: list[str] = []

    async def consume() -> None:
        got.append(await box.get())

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        box.put_nowait("hello")
    assert got == ["hello"]


async def test_close_drains_then_ends_and_refuses_producers() -> None:
    box: Mailbox[int] = Mailbox(1)
    box.put_nowait(1)
    outcome: list[str] = []

    async def blocked_put() -> None:
        try:
            await box.put(2)
        except anyio.ClosedResourceError:
            outcome.append("refused")

    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked_put)
        await anyio.wait_all_tasks_blocked()
        box.close()
    assert outcome == ["refused"]
    with pytest.raises(anyio.ClosedResourceError):
        box.put_nowait(3)
    assert await box.get() == 1  # what was queued is still delivered
    with pytest.raises(anyio.EndOfStream):
        await box.get()


async def test_close_wakes_a_waiting_consumer() -> None:
    box: Mailbox[int] = Mailbox(1)
    async with anyio.create_task_group() as tg:

        async def consume() -> None:
            with pytest.raises(anyio.EndOfStream):
                await box.get()

        tg.start_soon(consume)
        await anyio.wait_all_tasks_blocked()
        box.close()


async def test_a_cancelled_producer_leaves_the_queue() -> None:
    box: Mailbox[int] = Mailbox(1)
    box.put_nowait(0)
    first_waiter = anyio.CancelScope()

    async def put_then_leave() -> None:
        with first_waiter:
            await box.put(1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(put_then_leave)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(box.put, 2)
        await anyio.wait_all_tasks_blocked()
        first_waiter.cancel()  # the first waiter leaves the queue...
        await anyio.wait_all_tasks_blocked()
        assert box.waiting_senders == 1
        assert box.get_nowait() == 0  # ...so the room goes to the second one
        await anyio.wait_all_tasks_blocked()
    assert box.get_nowait() == 2


async def test_doorbell_remembers_one_ring() -> None:
    bell = Doorbell()
    bell.ring()
    bell.ring()
    with anyio.fail_after(1):
        await bell.wait()
    with anyio.move_on_after(0.05) as scope:
        await bell.wait()
    assert scope.cancelled_caught
    bell.close()
    bell.ring()  # harmless after close
    with pytest.raises(anyio.EndOfStream):
        await bell.wait()
