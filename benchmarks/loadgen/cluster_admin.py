"""The admin process of `benchmarks/kafka.py`'s two-node run: one admin socket on node b,
subscribed to the assessment. Node a's events reach it only through the topic, so their
send->admin time is the cross-node latency; b's own events are the local baseline."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from array import array
from collections import Counter
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .ipc import W0, W1, Ready, describe, pin, run_async
from .kafka_ipc import ADMIN, ADMIN_SEEN, ADMIN_STOP
from .protocol import AdminEvent


class AdminFrame(msgspec.Struct):
    type: str
    sessionId: str | None = None
    event: AdminEvent | None = None


@dataclasses.dataclass
class ClusterAdminResult:
    remote_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    local_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    remote_seen: int = 0
    local_seen: int = 0
    other: Counter[str] = dataclasses.field(default_factory=Counter)
    close: str = ""
    error: str = ""


def admin_main(
    url: str,
    assessment: str,
    remote_prefix: str,
    cpus: frozenset[int] | None,
    control: Any,
    watch: Any,
    results: Any,
) -> None:
    pin(cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(watch_admin(url, assessment, remote_prefix, control, watch, results))


async def watch_admin(
    url: str, assessment: str, remote_prefix: str, control: Any, watch: Any, results: Any
) -> None:
    result = ClusterAdminResult()
    decode = msgspec.json.Decoder(AdminFrame).decode
    try:
        ws = await connect(
            url,
            open_timeout=30,
            ping_interval=None,
            close_timeout=5,
            compression=None,
            max_size=None,
        )
        await ws.send(f'{{"type":"subscribe","channel":"assessment:{assessment}"}}')
        first = decode(await asyncio.wait_for(ws.recv(), 30))
        if first.type != "snapshot":
            raise RuntimeError(f'expected {{"type": "snapshot"}} after subscribe, got {first.type}')
    except (OSError, TimeoutError, ConnectionClosed, RuntimeError) as exc:
        result.error = describe(exc)
        results.put(Ready(ADMIN, 0, 1, result.error))
        results.put(("admin", result))
        return
    results.put(Ready(ADMIN, 1, 0, ""))
    closing = [False]
    reader = asyncio.create_task(read_admin(ws, decode, remote_prefix, result, control, closing))
    try:
        while not watch[ADMIN_STOP] and not reader.done():
            watch[ADMIN_SEEN] = result.remote_seen + result.local_seen
            await asyncio.sleep(0.05)
    finally:
        closing[0] = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.close(), 10)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    results.put(("admin", result))


async def read_admin(
    ws: ClientConnection,
    decode: Any,
    remote_prefix: str,
    result: ClusterAdminResult,
    control: Any,
    closing: list[bool],
) -> None:
    try:
        async for raw in ws:
            now = time.time_ns()
            frame = decode(raw)
            event = frame.event
            sent = event.data.sentNs if event is not None and event.data is not None else None
            if frame.type != "event" or sent is None or frame.sessionId is None:
                result.other[frame.type] += 1
                continue
            remote = frame.sessionId.startswith(remote_prefix)
            if remote:
                result.remote_seen += 1
            else:
                result.local_seen += 1
            if control[W0] <= sent < control[W1]:
                (result.remote_ns if remote else result.local_ns).append(now - sent)
    except ConnectionClosed:
        pass  # the close code is read below
    finally:
        if not closing[0]:
            result.close = f"{ws.close_code} {ws.close_reason or ''}".strip()
