"""The child processes of one `benchmarks/kafka.py` run (consumer, admin, candidate workers):
the arrays shared with them, starting them, what they report on `results`, and stopping them."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from typing import Any

from .ipc import CONTROL_SIZE, STOP, Ready
from .kafka_ipc import ADMIN, ADMIN_STOP, CONSUMER, CONSUMER_STOP, WATCH_SIZE


class Children:
    def __init__(self) -> None:
        self.context = mp.get_context("spawn")
        self.control = self.context.RawArray("q", CONTROL_SIZE)
        self.watch = self.context.RawArray("q", WATCH_SIZE)
        self.results: Any = self.context.Queue()
        self.processes: list[mp.process.BaseProcess] = []
        self.pending: list[Any] = []  # what came on `results` before it was asked for

    def start(self, target: Any, argv: tuple[Any, ...]) -> None:
        child = self.context.Process(target=target, args=argv)
        child.start()
        self.processes.append(child)

    def pids(self) -> list[int]:
        return [c.pid for c in self.processes if c.pid is not None]

    async def ready(self, indexes: set[int], timeout_s: float) -> list[Ready]:
        got: dict[int, Ready] = {}
        deadline = time.monotonic() + timeout_s
        while set(got) < indexes:
            message = await self.next_result(deadline, "ready")
            if isinstance(message, Ready):
                got[message.index] = message
                if message.index in (CONSUMER, ADMIN) and not message.connected:
                    raise SystemExit(f"{what(message.index)} failed: {message.first_error}")
            else:
                self.pending.append(message)
        return list(got.values())

    async def next_result(self, deadline: float, waiting_for: str) -> Any:
        while time.monotonic() < deadline:
            try:
                return self.results.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.05)
        raise SystemExit(f"timed out waiting for the child processes ({waiting_for})")

    def take(self, kind: type) -> list[Any]:
        """What arrived of `kind`, without waiting; the rest is kept for later."""
        while True:
            try:
                self.pending.append(self.results.get_nowait())
            except queue.Empty:
                break
        found = [m for m in self.pending if isinstance(m, kind)]
        self.pending = [m for m in self.pending if not isinstance(m, kind)]
        return found

    async def result(self, tag: str) -> Any:
        """The (tag, result) the consumer or the admin sends last."""
        deadline = time.monotonic() + 30
        while True:
            for message in self.pending:
                if isinstance(message, tuple) and message[0] == tag:
                    self.pending.remove(message)
                    return message[1]
            self.pending.append(await self.next_result(deadline, tag))

    def stop(self) -> list[str]:
        """Tell every child to stop and wait for it; notes for those that had to be terminated."""
        self.control[STOP] = 1
        self.watch[ADMIN_STOP] = self.watch[CONSUMER_STOP] = 1
        notes = []
        for child in self.processes:
            child.join(timeout=20)
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
                notes.append(f"child process {child.pid} did not stop; terminated")
        return notes


def what(index: int) -> str:
    return {CONSUMER: "the consumer", ADMIN: "the admin"}.get(index, f"worker {index}")
