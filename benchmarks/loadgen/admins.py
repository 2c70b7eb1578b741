"""The admin process: subscribes `--admins` sockets to the assessment and counts the events they
are shown, with the send->admin latency of each."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .ipc import (
    COUNTER_WIDTH,
    DRAIN,
    EXPECTED,
    STOP,
    W0,
    W1,
    AdminResult,
    ChildSpec,
    Done,
    Ready,
    Window,
    describe,
    pin,
    run_async,
    wait_go,
)
from .protocol import ADMIN_DECODER


def admin_main(spec: ChildSpec, control: Any, counters: Any, results: Any) -> None:
    pin(spec.cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(admin_worker(spec, control, counters, results))


async def open_admin(spec: ChildSpec) -> ClientConnection:
    ws = await connect(
        f"{spec.ws_base}/ws/admin?token={spec.admin_token}",
        open_timeout=30,
        ping_interval=None,
        close_timeout=5,
        compression=None,
        max_size=None,
    )
    channel = f"assessment:{spec.assessment_id}"
    await ws.send(msgspec.json.encode({"type": "subscribe", "channel": channel}).decode())
    first = ADMIN_DECODER.decode(await asyncio.wait_for(ws.recv(), 30))
    if first.type != "snapshot":
        await ws.close()
        raise RuntimeError(f'expected {{"type": "snapshot"}} after subscribe, got {first.type!r}')
    return ws


async def admin_worker(spec: ChildSpec, control: Any, counters: Any, results: Any) -> None:
    sockets: list[ClientConnection] = []
    errors: list[str] = []
    for _ in range(spec.admins):
        try:
            sockets.append(await open_admin(spec))
        except (OSError, TimeoutError, ConnectionClosed, RuntimeError) as exc:
            errors.append(describe(exc))
    results.put(
        Ready(spec.index, len(sockets), spec.admins - len(sockets), errors[0] if errors else "")
    )
    stats = [AdminResult() for _ in sockets]
    window, closing = Window(), [False]
    readers = [
        asyncio.create_task(read_admin(ws, st, window, closing))
        for ws, st in zip(sockets, stats, strict=True)
    ]
    slot = spec.index * COUNTER_WIDTH + 2

    def publish() -> None:
        counters[slot] = sum(st.seen for st in stats)

    try:
        if sockets and await wait_go(control, timeout_s=900, on_tick=publish):
            window.start, window.end = control[W0], control[W1]
            # Until everything sent was seen (EXPECTED is set once the workers are done).
            while not control[STOP] and time.time_ns() < control[DRAIN]:
                publish()
                expected = control[EXPECTED]
                if expected and all(st.seen >= expected or st.close for st in stats):
                    break
                await asyncio.sleep(0.05)
    finally:
        closing[0] = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 15
            )
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    publish()
    results.put(Done(spec.index, None, stats))


async def read_admin(
    ws: ClientConnection, stats: AdminResult, window: Window, closing: list[bool]
) -> None:
    latencies = stats.latency_ns
    try:
        async for raw in ws:
            now = time.time_ns()
            message = ADMIN_DECODER.decode(raw)
            event = message.event
            sent_ns = event.data.sentNs if event is not None and event.data is not None else None
            if message.type != "event" or sent_ns is None:
                stats.other[message.type] += 1
                continue
            stats.seen += 1
            if window.start <= sent_ns < window.end:
                latencies.append(now - sent_ns)
            if window.start <= now < window.end:
                stats.seen_window += 1
    except ConnectionClosed:
        pass  # the close code is read below
    finally:
        if not closing[0]:
            stats.close = f"{ws.close_code} {ws.close_reason or ''}".strip()
