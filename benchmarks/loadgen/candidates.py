"""The candidate worker process: attaches its share of the candidate sockets, sends events at its
share of the rate in small ticks, and matches the server's acks to the send times."""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Callable
from typing import Any, Final

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from .ipc import (
    COUNTER_WIDTH,
    DRAIN,
    STOP,
    T0,
    W0,
    W1,
    CandidateResult,
    ChildSpec,
    Done,
    Ready,
    Window,
    describe,
    pin,
    run_async,
    sleep_until_ns,
    wait_go,
)
from .protocol import SERVER_DECODER, event_prefixes, iso_now

TICK_S: Final = 0.005
# Past this many due-but-unsent events (seconds of load), the generator skips instead of bursting.
MAX_BACKLOG_S: Final = 0.25
# Connecting: rounds of retrying sockets that were not attached, and how long the first ack
# (of seq 1, the "hello") may take.
CONNECT_ROUNDS: Final = 4
HELLO_TIMEOUT_S: Final = 15.0


class Candidate:
    __slots__ = ("acked", "sent_ns", "session_id", "token", "ws")

    def __init__(self, session_id: str, token: str) -> None:
        self.session_id = session_id
        self.token = token
        self.ws: ClientConnection | None = None
        self.sent_ns: array[int] = array("q")  # send time of seq i+1 at index i
        self.acked = 0


def candidate_main(spec: ChildSpec, control: Any, counters: Any, results: Any, lock: Any) -> None:
    pin(spec.cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(candidate_worker(spec, control, counters, results, lock))


class Lifecycle:
    """Where a worker is: a close while `connecting` is an attach failure, to be retried."""

    __slots__ = ("closing", "connecting")

    def __init__(self) -> None:
        self.connecting = True
        self.closing = False


async def attach(candidate: Candidate, url: str, start_reader: Callable[[Candidate], None]) -> bool:
    """Connect and send seq 1; attached once the server acks it (the positive sign that the
    session actor took the socket: a failed attach only shows as a close after the handshake)."""
    candidate.sent_ns, candidate.acked = array("q"), 0
    ws = candidate.ws = await connect(
        url, open_timeout=30, ping_interval=None, close_timeout=5, compression=None
    )
    start_reader(candidate)
    sent_ns = time.time_ns()
    candidate.sent_ns.append(sent_ns)
    with contextlib.suppress(ConnectionClosed):
        await ws.send(
            f'{{"type":"heartbeat","seq":1,"ts":"{iso_now()}","data":{{"sentNs":{sent_ns}}}}}'
        )
    deadline = time.monotonic() + HELLO_TIMEOUT_S
    while candidate.acked < 1 and candidate.ws is ws and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    if candidate.acked >= 1:
        return True
    if candidate.ws is ws:  # open but silent: start over
        candidate.ws = None
        await ws.close()
    return False


async def connect_candidate(
    candidate: Candidate,
    spec: ChildSpec,
    gate: asyncio.Semaphore,
    lock: Any,
    errors: list[str],
    start_reader: Callable[[Candidate], None],
) -> None:
    url = f"{spec.ws_base}/ws/candidate/{candidate.session_id}?token={candidate.token}"
    async with gate:
        for attempt in range(3):
            # Retries hold a lock shared by all workers, so no two attaches overlap.
            if lock is not None and not await asyncio.to_thread(lock.acquire, True, 60):
                errors.append("connect lock not acquired in 60 s")
                return
            try:
                if await attach(candidate, url, start_reader):
                    return
            except (OSError, TimeoutError, WebSocketException) as exc:
                if attempt == 2:
                    errors.append(describe(exc))
            finally:
                if lock is not None:
                    lock.release()
            await asyncio.sleep(0.1 * (attempt + 1))


async def connect_all(
    everyone: list[Candidate],
    spec: ChildSpec,
    lock: Any,
    errors: list[str],
    start_reader: Callable[[Candidate], None],
) -> None:
    """Connect everyone, `connect_concurrency` at a time; then retry the failed, one at a time."""
    pending = everyone
    for round_ in range(CONNECT_ROUNDS):
        gate = asyncio.Semaphore(spec.connect_concurrency if round_ == 0 else 1)
        retry_lock = None if round_ == 0 else lock
        await asyncio.gather(
            *(connect_candidate(c, spec, gate, retry_lock, errors, start_reader) for c in pending)
        )
        pending = [c for c in everyone if c.acked < 1]
        if not pending:
            return


async def candidate_worker(
    spec: ChildSpec, control: Any, counters: Any, results: Any, lock: Any
) -> None:
    result = CandidateResult()
    window, lifecycle = Window(), Lifecycle()
    everyone = [Candidate(sid, token) for sid, token in spec.sessions]
    errors: list[str] = []
    readers: list[asyncio.Task[None]] = []

    def start_reader(candidate: Candidate) -> None:
        readers.append(asyncio.create_task(read_acks(candidate, result, window, lifecycle)))

    try:
        await connect_all(everyone, spec, lock, errors, start_reader)
        lifecycle.connecting = False
        for candidate in everyone:
            if candidate.acked < 1:  # never attached: nothing of it counts
                candidate.sent_ns, candidate.acked = array("q"), 0
        live = [c for c in everyone if c.ws is not None and c.acked >= 1]
        result.sent = result.acked = len(live)
        failed = len(everyone) - len(live)
        results.put(Ready(spec.index, len(live), failed, errors[0] if errors else ""))
        publish_counters(counters, spec.index, result)
        if live and await wait_go(control, timeout_s=600):
            window.start, window.end = control[W0], control[W1]
            await send_paced(live, spec, control, counters, result, window)
            await drain_acks(live, spec, control, counters, result)
    finally:
        lifecycle.closing = True
        closers = [c.ws.close() for c in everyone if c.ws is not None]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*closers, return_exceptions=True), 15)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    result.sessions = [(c.session_id, len(c.sent_ns), c.acked) for c in everyone]
    publish_counters(counters, spec.index, result)
    results.put(Done(spec.index, result, None))


def publish_counters(counters: Any, index: int, result: CandidateResult) -> None:
    counters[index * COUNTER_WIDTH] = result.sent
    counters[index * COUNTER_WIDTH + 1] = result.acked


async def send_paced(
    live: list[Candidate],
    spec: ChildSpec,
    control: Any,
    counters: Any,
    result: CandidateResult,
    window: Window,
) -> None:
    """Send `spec.rate` events/s round-robin over `live`, in small ticks, until the window ends."""
    prefixes = event_prefixes(spec.seed)
    n_prefixes, n_live = len(prefixes), len(live)
    t0, start, end = control[T0], window.start, window.end
    per_ns = spec.rate / 1e9
    max_backlog = max(1, int(spec.rate * MAX_BACKLOG_S))
    scheduled = turn = 0
    ts, ts_refreshed = iso_now(), time.monotonic()
    await sleep_until_ns(t0)
    while not control[STOP]:
        now = time.time_ns()
        if now >= end:
            break
        if time.monotonic() - ts_refreshed > 0.1:
            ts, ts_refreshed = iso_now(), time.monotonic()
        backlog = int((now - t0) * per_ns) - scheduled
        if backlog > max_backlog:
            result.skipped += backlog - max_backlog
            scheduled += backlog - max_backlog
            backlog = max_backlog
        scheduled += backlog
        for _ in range(backlog):
            candidate = live[turn % n_live]
            prefix = prefixes[turn % n_prefixes]
            turn += 1
            ws = candidate.ws
            if ws is None:
                result.skipped += 1
                continue
            sent_ns = time.time_ns()
            candidate.sent_ns.append(sent_ns)
            try:
                await ws.send(
                    f'{prefix}{len(candidate.sent_ns)},"ts":"{ts}","data":{{"sentNs":{sent_ns}}}}}'
                )
            except ConnectionClosed:
                candidate.sent_ns.pop()  # a closed connection raises before writing
                candidate.ws = None
                result.skipped += 1
                continue
            result.sent += 1
            if start <= sent_ns < end:
                result.sent_window += 1
        publish_counters(counters, spec.index, result)
        await asyncio.sleep(max(0.0, TICK_S - (time.time_ns() - now) / 1e9))


async def drain_acks(
    live: list[Candidate], spec: ChildSpec, control: Any, counters: Any, result: CandidateResult
) -> None:
    deadline = control[DRAIN]
    while not control[STOP] and time.time_ns() < deadline:
        publish_counters(counters, spec.index, result)
        if result.acked >= result.sent:
            return
        if all(c.ws is None or c.acked >= len(c.sent_ns) for c in live):
            return
        await asyncio.sleep(0.05)


async def read_acks(
    candidate: Candidate, result: CandidateResult, window: Window, lifecycle: Lifecycle
) -> None:
    ws = candidate.ws
    assert ws is not None
    try:
        async for raw in ws:
            message = SERVER_DECODER.decode(raw)
            if message.type == "ack" and message.seq is not None:
                on_ack(candidate, message.seq, result, window)
            elif message.type == "error":
                result.errors[message.code or "?"] += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{message.code}: {message.message}"[:200])
            else:
                result.other_messages[message.type] += 1
    except ConnectionClosed:
        pass  # the close code is read below
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        result.errors["undecodable"] += 1
        result.error_samples.append(describe(exc))
    finally:
        if not lifecycle.closing and candidate.ws is ws:
            closes = result.attach_failures if lifecycle.connecting else result.closes
            closes[f"{ws.close_code} {ws.close_reason or ''}".strip()[:80]] += 1
            candidate.ws = None


def on_ack(candidate: Candidate, seq: int, result: CandidateResult, window: Window) -> None:
    previous = candidate.acked
    sent = candidate.sent_ns
    if seq > len(sent):
        result.errors["ack_beyond_sent"] += 1
        seq = len(sent)
    if seq <= previous:
        return
    now = time.time_ns()
    start, end, latencies = window.start, window.end, result.ack_latency_ns
    for i in range(previous, seq):
        sent_ns = sent[i]
        if start <= sent_ns < end:
            latencies.append(now - sent_ns)
    result.acked += seq - previous
    if start <= now < end:
        result.acked_window += seq - previous
    candidate.acked = seq
