"""The garbage collector's pacer: young collections by the clock, a full one on socket churn."""

from __future__ import annotations

import gc
import weakref

import anyio
import pytest

from app.process.gc_pacer import GcPacer

pytestmark = pytest.mark.anyio


class Sockets:
    def __init__(self) -> None:
        self.open = 0
        self.closed = 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pacer(sockets: Sockets, clock: Clock, full_seconds: float = 3600.0) -> GcPacer:
    return GcPacer(
        0.01,
        full_seconds,
        open_sockets=lambda: sockets.open,
        closed_sockets=lambda: sockets.closed,
        clock=clock,
    )


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_the_full_pass_waits_for_a_quarter_of_the_open_sockets_to_close() -> None:
    sockets, clock = Sockets(), Clock()
    sockets.open = 1000
    p = pacer(sockets, clock)
    sockets.closed = 249
    assert not p.full_due()
    sockets.closed = 250
    assert p.full_due()
    p.collect()
    assert p.full_pauses.count == 1 and p.young_pauses.count == 0
    assert not p.full_due()  # counted from the pass, not from the start
    sockets.closed = 499
    assert not p.full_due()
    sockets.closed = 500
    assert p.full_due()


def test_a_few_closes_on_a_quiet_server_do_not_start_a_full_pass() -> None:
    sockets, clock = Sockets(), Clock()
    sockets.open = 10
    p = pacer(sockets, clock)
    sockets.closed = 99
    assert not p.full_due()
    sockets.closed = 100
    assert p.full_due()


def test_the_full_pass_runs_at_least_every_full_seconds() -> None:
    sockets, clock = Sockets(), Clock()
    p = pacer(sockets, clock, full_seconds=60.0)
    clock.now += 59.9
    assert not p.full_due()
    p.collect()
    assert p.young_pauses.count == 1 and p.full_pauses.count == 0
    clock.now += 0.1
    p.collect()
    assert p.full_pauses.count == 1
    clock.now += 59.0
    assert not p.full_due()


def test_a_young_tick_frees_young_cycles_and_leaves_old_ones_to_the_full_pass() -> None:
    sockets, clock = Sockets(), Clock()
    p = pacer(sockets, clock)
    gc.disable()
    try:
        holder = Node()
        holder.other = Node()
        holder.other.other = holder
        old = weakref.ref(holder)
        gc.collect(0)  # survives a young collection while still referenced...
        del holder  # ...and becomes garbage once it is old
        young = cycle()
        p.collect()
        assert young() is None
        assert old() is not None  # in the middle generation, which only the full pass visits
        sockets.closed = 100
        p.collect()
        assert old() is None
        assert p.collected >= 4
    finally:
        gc.enable()


async def test_automatic_collection_is_off_while_the_pacer_runs_and_back_on_after() -> None:
    sockets, clock = Sockets(), Clock()
    assert gc.isenabled()
    ticks = pacer(sockets, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticks.run)
        young = cycle()
        with anyio.fail_after(5):
            while young() is not None:
                await anyio.sleep(0.01)
        assert not gc.isenabled()
        assert ticks.young_pauses.count >= 1
        tg.cancel_scope.cancel()
    assert gc.isenabled()


async def test_young_seconds_zero_leaves_pythons_schedule() -> None:
    off = GcPacer(0, 3600.0, open_sockets=lambda: 0, closed_sockets=lambda: 0)
    with anyio.fail_after(1):
        await off.run()
    assert gc.isenabled()
