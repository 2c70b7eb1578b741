"""What crosses process boundaries between the coordinator and its children: the layout of the
shared `control` and `counters` arrays, each child's spec, what it reports back; and how every
process starts (CPU pinning, the event loop) and waits for the coordinator's go."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

try:
    import uvloop
except ImportError:  # the load generator still works, only slower
    uvloop = None  # type: ignore[assignment]


# Layout of the shared `control` array: written only by the coordinator.
GO: Final = 0
T0: Final = 1
W0: Final = 2
W1: Final = 3
DRAIN: Final = 4
STOP: Final = 5
EXPECTED: Final = 6
CONTROL_SIZE: Final = 7
# Each child owns COUNTER_WIDTH slots of `counters`: sent, acked, admin deliveries.
COUNTER_WIDTH: Final = 3

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ChildSpec:
    index: int
    ws_base: str
    cpus: frozenset[int] | None
    sessions: list[tuple[str, str]]  # candidate workers: (session id, candidate token)
    rate: float  # this worker's share of the offered events/s
    seed: int
    connect_concurrency: int
    admin_token: str = ""  # admin process only
    assessment_id: str = ""
    admins: int = 0


@dataclasses.dataclass
class CandidateResult:
    sent: int = 0
    acked: int = 0
    sent_window: int = 0
    acked_window: int = 0
    skipped: int = 0
    ack_latency_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    sessions: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    error_samples: list[str] = dataclasses.field(default_factory=list)
    other_messages: Counter[str] = dataclasses.field(default_factory=Counter)
    closes: Counter[str] = dataclasses.field(default_factory=Counter)
    attach_failures: Counter[str] = dataclasses.field(default_factory=Counter)


@dataclasses.dataclass
class AdminResult:
    seen: int = 0
    seen_window: int = 0
    other: Counter[str] = dataclasses.field(default_factory=Counter)
    latency_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    close: str = ""


@dataclasses.dataclass(frozen=True)
class Ready:
    index: int
    connected: int
    failed: int
    first_error: str


@dataclasses.dataclass(frozen=True)
class Done:
    index: int
    candidates: CandidateResult | None
    admins: list[AdminResult] | None


# --- helpers shared by every process ----------------------------------------------------------


def pin(cpus: frozenset[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


def run_async(main: Awaitable[T]) -> T:
    factory = uvloop.new_event_loop if uvloop is not None else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)  # type: ignore[arg-type]


async def sleep_until_ns(moment_ns: int) -> None:
    delay = (moment_ns - time.time_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


async def wait_go(
    control: Any, timeout_s: float, on_tick: Callable[[], None] | None = None
) -> bool:
    deadline = time.monotonic() + timeout_s
    while not control[GO] and not control[STOP] and time.monotonic() < deadline:
        if on_tick is not None:
            on_tick()
        await asyncio.sleep(0.01)
    return bool(control[GO]) and not control[STOP]


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


class Window:
    """Measured window, known to readers only once the coordinator says go."""

    __slots__ = ("end", "start")

    def __init__(self) -> None:
        self.start = 2**62
        self.end = 2**62
