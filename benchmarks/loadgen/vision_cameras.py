"""The cameras of `benchmarks/vision.py`: candidate sockets that each send a JPEG every
`period` seconds and a heartbeat every `heartbeat` seconds (timing its ack), and one admin socket
subscribed to `sessions` that collects every session's `frame_analyzed` and `frames_skipped`.

All times are `time.time_ns()`, so the sockets' timestamps compare with the coordinator's window."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from typing import Final

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from .ipc import describe, sleep_until_ns
from .protocol import iso_now

HELLO_TIMEOUT_S: Final = 30.0


class Ack(msgspec.Struct):
    type: str
    seq: int | None = None


class VisionData(msgspec.Struct):
    """The data of `frame_analyzed` and `frames_skipped`, as far as the benchmark reads it."""

    received: int = 0
    skipped: int = 0
    count: int = 0  # frames_skipped
    objects: list[str] | None = None
    reused: bool = False
    ms: float | None = None


class AdminEvent(msgspec.Struct):
    type: str
    data: msgspec.Raw = msgspec.Raw()  # decoded only for the vision events


class AdminMessage(msgspec.Struct):
    type: str
    sessionId: str | None = None
    event: AdminEvent | None = None


ACK_DECODER: Final = msgspec.json.Decoder(Ack)
ADMIN_DECODER: Final = msgspec.json.Decoder(AdminMessage)
DATA_DECODER: Final = msgspec.json.Decoder(VisionData)


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    at_ns: int  # when the admin got it
    frame: int  # how many frames the server had received from this camera (its newest's index)
    received: int
    skipped: int
    objects: bool  # objects were looked for on this very frame (not null, not reused)
    reused: bool
    ms: float | None


class Camera:
    def __init__(
        self, session_id: str, token: str, frames: Sequence[bytes], start: int, phase_ns: int
    ) -> None:
        self.session_id = session_id
        self.token = token
        self.frames = frames
        self.start = start  # where in `frames` this camera begins
        self.phase_ns = phase_ns
        self.ws: ClientConnection | None = None
        self.hello = asyncio.Event()
        self.sent_ns: list[int] = []  # send time of frame i+1 at index i
        self.beats_sent: dict[int, int] = {}  # heartbeat seq -> send time, until acked
        self.beat_latency: list[tuple[int, int]] = []  # (send time, ack latency) in ns
        self.seq = 0
        self.verdicts: list[Verdict] = []
        self.server_received = 0  # frames the server reported receiving, summed
        self.skipped_reports: list[tuple[int, int, int]] = []  # (at_ns, skipped, received)
        self.other: Counter[str] = Counter()
        self.close = ""


async def attach(camera: Camera, ws_base: str, readers: list[asyncio.Task[None]]) -> None:
    """Connect and send heartbeat seq 1: attached once the server acks it."""
    url = f"{ws_base}/ws/candidate/{camera.session_id}?token={camera.token}"
    ws = camera.ws = await connect(
        url, open_timeout=30, ping_interval=None, close_timeout=5, compression=None
    )
    readers.append(asyncio.create_task(read_candidate(camera, ws)))
    await send_heartbeat(camera, ws)
    await asyncio.wait_for(camera.hello.wait(), HELLO_TIMEOUT_S)


async def attach_all(
    cameras: list[Camera], ws_base: str, readers: list[asyncio.Task[None]], concurrency: int = 32
) -> list[str]:
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(camera: Camera) -> None:
        async with gate:
            try:
                await attach(camera, ws_base, readers)
            except (OSError, TimeoutError, WebSocketException) as exc:
                camera.ws = None
                errors.append(f"{camera.session_id}: {describe(exc)}")

    await asyncio.gather(*(one(c) for c in cameras))
    return errors


async def send_heartbeat(camera: Camera, ws: ClientConnection) -> None:
    camera.seq += 1
    camera.beats_sent[camera.seq] = time.time_ns()
    await ws.send(f'{{"type":"heartbeat","seq":{camera.seq},"ts":"{iso_now()}"}}')


async def read_candidate(camera: Camera, ws: ClientConnection) -> None:
    try:
        async for raw in ws:
            message = ACK_DECODER.decode(raw)
            if message.type != "ack" or message.seq is None:
                camera.other[message.type] += 1
                continue
            at = time.time_ns()
            for seq in [s for s in camera.beats_sent if s <= message.seq]:
                sent = camera.beats_sent.pop(seq)
                camera.beat_latency.append((sent, at - sent))
            camera.hello.set()
    except ConnectionClosed:
        camera.close = f"{ws.close_code} {ws.close_reason or ''}".strip()
    except msgspec.DecodeError as exc:
        camera.close = f"undecodable message: {exc}"


async def drive(
    camera: Camera, t0_ns: int, period_ns: int, heartbeat_ns: int, stop_ns: int
) -> None:
    """Frames at t0 + phase + k * period; heartbeats half a period later, every `heartbeat_ns`."""
    ws = camera.ws
    if ws is None:
        return
    next_frame = t0_ns + camera.phase_ns
    next_beat = next_frame + period_ns // 2
    k = 0
    with contextlib.suppress(ConnectionClosed):
        while (at := min(next_frame, next_beat)) < stop_ns:
            await sleep_until_ns(at)
            if at == next_frame:
                camera.sent_ns.append(time.time_ns())
                await ws.send(camera.frames[(camera.start + k) % len(camera.frames)])
                k += 1
                next_frame += period_ns
            else:
                await send_heartbeat(camera, ws)
                next_beat += heartbeat_ns


async def open_admin(ws_base: str, token: str) -> ClientConnection:
    ws = await connect(
        f"{ws_base}/ws/admin?token={token}",
        open_timeout=30,
        ping_interval=None,
        close_timeout=5,
        compression=None,
        max_size=None,
    )
    await ws.send('{"type":"subscribe","channel":"sessions"}')
    first = ADMIN_DECODER.decode(await asyncio.wait_for(ws.recv(), 30))
    if first.type != "snapshot":
        await ws.close()
        raise RuntimeError(f'expected {{"type": "snapshot"}} after subscribe, got {first.type!r}')
    return ws


async def watch(ws: ClientConnection, cameras: dict[str, Camera], other: Counter[str]) -> None:
    """Every session's vision events, to its camera. Frames are numbered by the server's own
    `received` counts, so a verdict with received == 1 and skipped == 0 is for frame `frame`."""
    try:
        async for raw in ws:
            at = time.time_ns()
            message = ADMIN_DECODER.decode(raw)
            event = message.event
            camera = cameras.get(message.sessionId or "")
            if event is None or camera is None:
                other[message.type] += 1
                continue
            if event.type == "frame_analyzed":
                data = DATA_DECODER.decode(event.data)
                camera.server_received += data.received
                camera.verdicts.append(
                    Verdict(
                        at_ns=at,
                        frame=camera.server_received,
                        received=data.received,
                        skipped=data.skipped,
                        objects=data.objects is not None and not data.reused,
                        reused=data.reused,
                        ms=data.ms,
                    )
                )
            elif event.type == "frames_skipped":
                data = DATA_DECODER.decode(event.data)
                camera.server_received += data.received
                camera.skipped_reports.append((at, data.count, data.received))
    except ConnectionClosed:
        other[f"admin closed {ws.close_code} {ws.close_reason or ''}".strip()] += 1
