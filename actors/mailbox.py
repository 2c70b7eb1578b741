"""The bounded mailbox every hot-path queue uses: session mailboxes, the journal queue, admin
outboxes, and the doorbell of a candidate socket's writer.

Why not anyio's memory object streams: on asyncio each wait on an empty stream builds a
dataclass, a task-info object, an Event and two weak-dict lookups, and every send or receive
yields to the loop first: ~20 us of the ~300 us an event cost at saturation (py-spy, 2026-11-22,
benchmarks/RESULTS.md). This keeps their contract (bounded, producers wait while it is full, a
closed mailbox drains and then ends) with a deque and asyncio futures. anyio task groups and
cancel scopes still own the tasks: cancellation arrives as CancelledError at the awaited future.

One consumer, any number of producers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


class Mailbox(Generic[T]):
    __slots__ = ("_capacity", "_closed", "_getter", "_items", "_putters")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a mailbox holds at least 1 item; got capacity {capacity}")
        self._capacity = capacity
        self._items: deque[T] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting_senders(self) -> int:
        return len(self._putters)

    # --- producers -----------------------------------------------------------------------------

    def put_nowait(self, item: T) -> None:
        """Add `item`; anyio.WouldBlock if full, anyio.ClosedResourceError if closed."""
        if self._closed:
            raise anyio.ClosedResourceError
        if len(self._items) >= self._capacity:
            raise anyio.WouldBlock
        self._items.append(item)
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    async def put(self, item: T) -> None:
        """Add `item`, waiting while the mailbox is full (back-pressure)."""
        while True:
            try:
                self.put_nowait(item)
                return
            except anyio.WouldBlock:
                pass
            waiter = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._putters:
                    self._putters.remove(waiter)
                elif waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._wake_one_putter()  # we were given room but leave: pass it on
                raise

    # --- the consumer --------------------------------------------------------------------------

    def get_nowait(self) -> T:
        """Next item; anyio.WouldBlock if empty, anyio.EndOfStream if closed and drained."""
        if not self._items:
            raise anyio.EndOfStream if self._closed else anyio.WouldBlock
        item = self._items.popleft()
        self._wake_one_putter()
        return item

    def _wake_one_putter(self) -> None:
        while self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return

    async def get(self) -> T:
        """Next item, waiting while the mailbox is empty; anyio.EndOfStream once closed and drained."""
        while True:
            try:
                return self.get_nowait()
            except anyio.WouldBlock:
                pass
            waiter = asyncio.get_running_loop().create_future()
            self._getter = waiter
            try:
                await waiter
            finally:
                if self._getter is waiter:
                    self._getter = None

    # --- either side ---------------------------------------------------------------------------

    def close(self) -> None:
        """Take no more items; the consumer drains what is queued and then gets EndOfStream.
        Producers still waiting for room get anyio.ClosedResourceError."""
        if self._closed:
            return
        self._closed = True
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)
        self._getter = None
        while self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_exception(anyio.ClosedResourceError())


class Doorbell:
    """Wakes one waiting task; rings while nobody waits are remembered once, not counted."""

    __slots__ = ("_box",)

    def __init__(self) -> None:
        self._box: Mailbox[None] = Mailbox(1)

    def ring(self) -> None:
        try:
            self._box.put_nowait(None)
        except (anyio.WouldBlock, anyio.ClosedResourceError):
            pass  # already rung, or nobody will listen again

    async def wait(self) -> None:
        """Return once rung; anyio.EndOfStream after `close()`."""
        await self._box.get()

    def close(self) -> None:
        self._box.close()
