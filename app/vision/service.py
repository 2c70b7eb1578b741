"""The webcam path (issue 5): frames from candidate sockets, through one bounded queue, to a pool
of analysing processes, and their verdicts to the session actors as messages.

Overflow policy: a session has at most one frame waiting or being analysed, and the queue holds
at most `[vision] queue_size` frames; a frame that finds either full is skipped, newest first,
and counted for its session (the counts travel in its next `frame_analyzed`, or in a
`frames_skipped` event). The event loop never waits for a worker.

Objects are looked for every `object_every_seconds` per camera, and on the next frame after a new
anomaly begins (to catch the phone behind a missing face, and to confirm an object), not on every
anomalous frame. While frames wait
for a worker, object checks take at most `max_object_share` of the workers' time and the rest
wait for a later frame (app/vision/budget.py): faces first. A frame that barely differs from the
camera's last analysed frame reuses its verdict (counted as reused).

When the pool breaks (a worker died) or the models are missing, vision is unavailable: each
session that sends a frame then gets one `vision_unavailable` (manual review required, document
002's fallback) and monitoring goes on with events only, while the pool is rebuilt with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
import msgspec

from actors.completeness import FRAMES_SKIPPED
from actors.identity import Sighting
from actors.mailbox import Doorbell, Mailbox
from actors.messages import FrameAnalyzedIn, RecordEvent, VisionUnavailable
from actors.registry import Registry, RegistryClosed, SessionFailed, UnknownSession
from app.settings.vision import VisionConfig
from app.telemetry.metrics import Histogram, Metrics
from app.vision.analyzer import (
    CAMERA_RESULT_DECODER,
    PHOTO_RESULT_DECODER,
    PhotoResult,
    analyze_camera_frame,
    analyze_frame,
    analyze_photo,
    check_models,
    init_worker,
    recognition_unavailable,
    worker_ready,
)
from app.vision.budget import ObjectBudget
from app.vision.errors import FrameRejected, ModelUnavailable
from app.vision.frame_events import anomalies_after, frame_data
from app.vision.model_prep import Precision, worker_config
from app.vision.parent_death import owned_worker, sigint_ignored
from app.vision.verdict import FrameVerdict, decode_verdict

log = logging.getLogger("vigil.vision")

_LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_IDLE_CAMERA_SECONDS: Final = 600.0
_REVIVE_BACKOFF: Final = (1.0, 5.0, 15.0, 60.0)


@dataclass(slots=True)
class _Camera:
    """One session's webcam, as the vision service sees it; owned by the service's tasks."""

    seen: float
    busy: bool = False
    received: int = 0  # since the counts were last reported
    skipped: int = 0
    reported_at: float = 0.0
    thumbnail: bytes | None = None  # of the last analysed frame
    verdict: FrameVerdict | None = None  # the last verdict, reused for near-identical frames
    objects_at: float = -math.inf
    anomalies: frozenset[str] = frozenset()  # what the last verdicts showed (see anomalies_after)
    look_again: bool = False  # the last frame showed a new anomaly: look for objects on this one
    interval: float = 2.5  # seconds between this camera's frames (a moving average)
    last_frame_at: float | None = None
    told_unavailable: bool = False
    identity_at: float = -math.inf  # when its face was last compared with the reference
    # Compare the next frame with one usable face at once: the last verdict did not show one
    # face (a new face track), or the session suspects a mismatch or is still enrolling.
    check_identity: bool = True

    def counts(self, now: float) -> dict[str, int]:
        counts = {"received": self.received, "skipped": self.skipped}
        self.received = self.skipped = 0
        self.reported_at = now
        return counts


@dataclass(frozen=True, slots=True)
class _Frame:
    session_id: str
    jpeg: bytes
    received_at: float


@dataclass(slots=True)
class VisionStats:
    analyzed: int = 0
    reused: int = 0
    skipped: int = 0
    rejected: int = 0
    unavailable: int = 0
    identity_checks: int = 0
    latency: Histogram = field(default_factory=lambda: Histogram(_LATENCY_BUCKETS))


class VisionService:
    def __init__(
        self,
        config: VisionConfig,
        registry: Registry,
        now_iso: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.registry = registry
        self.now_iso = now_iso
        self.clock = clock
        self.stats = VisionStats()
        self.objects = ObjectBudget(config.max_object_share, backlog=config.workers)
        self.available = False
        self.unavailable_reason = "the vision pool is starting"
        self._queue: Mailbox[_Frame] = Mailbox(config.queue_size)
        # Two frames in flight per worker: the next one already waits in the pool's call queue
        # when a worker finishes, instead of one round trip through this loop later. With one per
        # worker, the workers used 156-158% of the two cores at 250 cameras while frames waited
        # here; with two, 161-169% (RESULTS.md, 2026-11-23 06:49).
        self._slots = anyio.Semaphore(2 * config.workers)
        self._cameras: dict[str, _Camera] = {}
        self._to_tell: set[str] = set()  # sessions to tell that vision is unavailable
        self._tell = Doorbell()
        self._pool: ProcessPoolExecutor | None = None
        self._broken = anyio.Event()
        # What the workers load: `config` with the int8 object model once it is made.
        self._worker_config = config
        self.object_precision: Precision = config.object_precision  # fp32 if quantising failed
        # Why no face recognition runs (identity stays "none"), or None while it does.
        self.recognition_off: str | None = "the vision pool is starting"

    def register_metrics(self, metrics: Metrics) -> None:
        stats = self.stats
        metrics.counter("vigil_vision_frames_analyzed_total", "Frames a detector ran on.",
                        lambda: stats.analyzed)  # fmt: skip
        metrics.counter("vigil_vision_frames_reused_total",
                        "Frames near-identical to their camera's last, given its verdict.",
                        lambda: stats.reused)  # fmt: skip
        metrics.counter("vigil_vision_frames_skipped_total",
                        "Frames not analysed: the queue or the session's slot was full.",
                        lambda: stats.skipped)  # fmt: skip
        metrics.counter("vigil_vision_frames_rejected_total", "Frames that were no usable JPEG.",
                        lambda: stats.rejected)  # fmt: skip
        metrics.counter("vigil_vision_object_checks_held_total",
                        "Due object checks put off to a later frame while frames waited.",
                        lambda: self.objects.held)  # fmt: skip
        metrics.counter("vigil_vision_identity_checks_total",
                        "Frames whose face was compared with the session's reference.",
                        lambda: stats.identity_checks)  # fmt: skip
        metrics.counter("vigil_vision_frames_unavailable_total",
                        "Frames received while vision was unavailable.",
                        lambda: stats.unavailable)  # fmt: skip
        metrics.gauge("vigil_vision_available", "1 while the analysing pool runs.",
                      lambda: float(self.available))  # fmt: skip
        metrics.gauge("vigil_vision_object_model_int8",
                      "1 while the object model runs quantised to int8 (object_precision).",
                      lambda: float(self.object_precision == "int8"))  # fmt: skip
        metrics.gauge("vigil_vision_queue_frames", "Frames waiting for a worker.",
                      lambda: len(self._queue))  # fmt: skip
        metrics.gauge("vigil_vision_cameras", "Sessions with a camera seen in the last 10 min.",
                      lambda: len(self._cameras))  # fmt: skip
        metrics.histogram("vigil_vision_verdict_seconds",
                          "From a frame received to its verdict handed to the session.",
                          stats.latency)  # fmt: skip

    # --- the candidate sockets' side -----------------------------------------------------------

    def submit(self, session_id: str, jpeg: bytes) -> None:
        """Take one frame from a candidate's socket; never waits."""
        now = self.clock()
        camera = self._cameras.get(session_id)
        if camera is None:
            # A random phase for the object checks: cameras that join together (an exam's
            # start) would otherwise all want the slow detector in the same second, forever.
            phase = random.uniform(0.0, self.config.object_every_seconds)
            camera = self._cameras[session_id] = _Camera(
                seen=now, reported_at=now, objects_at=now - phase
            )
        if camera.last_frame_at is not None:
            gap = min(max(now - camera.last_frame_at, 0.05), 30.0)
            camera.interval = 0.8 * camera.interval + 0.2 * gap
        camera.seen = camera.last_frame_at = now
        camera.received += 1
        if not self.available:
            self.stats.unavailable += 1
            camera.skipped += 1
            if not camera.told_unavailable:
                camera.told_unavailable = True
                self._to_tell.add(session_id)
                self._tell.ring()
            return
        if camera.busy:
            camera.skipped += 1
            self.stats.skipped += 1
            return
        try:
            self._queue.put_nowait(_Frame(session_id, jpeg, now))
        except anyio.WouldBlock:
            camera.skipped += 1
            self.stats.skipped += 1
            return
        camera.busy = True

    def check_next(self, session_id: str) -> None:
        """The session's next frame with one usable face is compared with its reference at once
        (the actor suspects a mismatch, or is still enrolling: actors/ports.py IdentityChecks)."""
        camera = self._cameras.get(session_id)
        if camera is not None:
            camera.check_identity = True

    async def embed_photo(self, jpeg: bytes) -> PhotoResult:
        """A reference photo's faces and embedding, from a pool worker. `VisionDown` while no
        pool runs; `FrameRejected` for bytes that are no usable JPEG."""
        pool = self._pool
        if pool is None:
            raise VisionDown(self.unavailable_reason)
        try:
            raw = await asyncio.get_running_loop().run_in_executor(pool, analyze_photo, jpeg)
        except BrokenProcessPool as exc:
            self._pool_broke(pool, f"a worker died: {exc}")
            raise VisionDown(self.unavailable_reason) from exc
        return PHOTO_RESULT_DECODER.decode(raw)

    async def calibrate(self, jpeg: bytes) -> FrameVerdict:
        """The system check's calibration frame, analysed as a camera's frame would be (faces
        only). `VisionDown` while no pool runs; `FrameRejected` for bytes that are no JPEG."""
        pool = self._pool
        if pool is None:
            raise VisionDown(self.unavailable_reason)
        try:
            raw = await asyncio.get_running_loop().run_in_executor(pool, analyze_frame, jpeg, False)
        except BrokenProcessPool as exc:
            self._pool_broke(pool, f"a worker died: {exc}")
            raise VisionDown(self.unavailable_reason) from exc
        return decode_verdict(raw)

    # --- the service's tasks -------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._keep_pool)
            tg.start_soon(self._dispatch, tg)
            tg.start_soon(self._tell_unavailable)
            tg.start_soon(self._sweep)
            task_status.started()

    async def _keep_pool(self) -> None:
        """Start the pool, and start it again whenever it breaks; shut it when cancelled."""
        try:
            await anyio.to_thread.run_sync(check_models, self.config)
        except ModelUnavailable as exc:
            self.unavailable_reason = f"models missing: {exc}"
            log.error("vision is unavailable: %s", exc)
            return
        self._worker_config, self.object_precision = await worker_config(self.config)
        failures = 0
        while True:
            try:
                pool = await self._start_pool()
            except Exception as exc:  # the workers could not load: retry, never crash the server
                failures += 1
                self.unavailable_reason = f"the vision pool did not start: {exc!r}"
                log.exception("vision pool did not start (attempt %d)", failures)
                await anyio.sleep(_backoff(failures))
                continue
            try:
                loop = asyncio.get_running_loop()
                self.recognition_off = await loop.run_in_executor(pool, recognition_unavailable)
                self._pool, self.available = pool, True
                for camera in self._cameras.values():
                    camera.told_unavailable = False
                log.info("vision pool ready: %d worker(s)", self.config.workers)
                await self._broken.wait()
            finally:
                self._pool, self.available = None, False
                await _shut(pool)
            self._broken = anyio.Event()
            failures += 1
            await anyio.sleep(_backoff(failures))

    async def _start_pool(self) -> ProcessPoolExecutor:
        with sigint_ignored():  # the workers start ignoring it: Ctrl-C is the server's
            pool = ProcessPoolExecutor(
                max_workers=self.config.workers,
                # spawn: a forked worker would inherit the server's threads and sockets.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_pool_worker,
                initargs=(os.getpid(), msgspec.json.encode(self._worker_config)),
            )
            loop = asyncio.get_running_loop()
            # Load the models in every worker now, not on the first candidate's frame. (Each
            # submit starts a worker while fewer than `workers` are idle.)
            ready = [loop.run_in_executor(pool, worker_ready) for _ in range(self.config.workers)]
        try:
            await asyncio.gather(*ready)
        except BaseException:
            await _shut(pool)
            raise
        return pool

    def _pool_broke(self, pool: ProcessPoolExecutor, reason: str) -> None:
        if self._pool is not pool:
            return  # already noticed by another frame
        self._pool, self.available = None, False
        self.unavailable_reason = reason
        log.error("vision pool broke (%s); monitoring goes on with events only", reason)
        self._broken.set()

    async def _dispatch(self, tg: anyio.abc.TaskGroup) -> None:
        while True:
            frame = await self._queue.get()
            await self._slots.acquire()
            tg.start_soon(self._analyze, frame)

    async def _analyze(self, frame: _Frame) -> None:
        camera = self._cameras.get(frame.session_id)
        try:
            if camera is None or self._pool is None:
                return
            await self._analyze_on(self._pool, camera, frame)
        finally:
            self._slots.release()
            if camera is not None:
                camera.busy = False

    async def _analyze_on(self, pool: ProcessPoolExecutor, camera: _Camera, frame: _Frame) -> None:
        now = self.clock()
        # Due half a frame early: a camera sending every 2.5 s would otherwise meet a 10 s
        # schedule only when its fourth frame happens to come late (checks every 12.5 s).
        since = now - camera.objects_at + camera.interval / 2
        objects_due = (
            camera.look_again or since >= self.config.object_every_seconds
        ) and self.objects.allows(frames_waiting=len(self._queue))
        identity_due = self.recognition_off is None and (
            camera.check_identity
            or now - camera.identity_at + camera.interval / 2 >= self.config.identity_every_seconds
        )
        try:
            raw = await asyncio.get_running_loop().run_in_executor(
                pool, analyze_camera_frame, frame.jpeg, objects_due, camera.thumbnail, identity_due
            )
        except FrameRejected:
            self.stats.rejected += 1
            camera.skipped += 1
            return
        except BrokenProcessPool as exc:
            self._pool_broke(pool, f"a worker died: {exc}")
            camera.skipped += 1
            camera.told_unavailable = True
            self._to_tell.add(frame.session_id)
            self._tell.ring()
            return
        result = CAMERA_RESULT_DECODER.decode(raw)
        camera.thumbnail = result.thumbnail
        if result.verdict is not None:
            camera.verdict = result.verdict
            self.stats.analyzed += 1
            timings = result.verdict.timings
            self.objects.spent(timings.total_ms, timings.objects_ms or 0.0)
        else:
            self.stats.reused += 1
        verdict = camera.verdict
        if verdict is None:
            return  # reused with nothing to reuse cannot happen: the worker had no thumbnail
        if verdict.objects is not None and not result.reused:
            camera.objects_at = now
        anomalies = anomalies_after(verdict, camera.anomalies)
        # Once per new anomaly, not on every anomalous frame: an absent candidate would otherwise
        # cost an object check on every frame, three times a present one's.
        camera.look_again = bool(anomalies - camera.anomalies)
        camera.anomalies = anomalies
        data = frame_data(verdict, result.reused, camera.counts(self.clock()))
        sighting = self._sighting(camera, verdict, result.embedding, now)
        self.stats.latency.observe(self.clock() - frame.received_at)
        await self._send(
            frame.session_id, FrameAnalyzedIn(data=data, jpeg=frame.jpeg, sighting=sighting)
        )

    def _sighting(
        self, camera: _Camera, verdict: FrameVerdict, embedding: list[float] | None, now: float
    ) -> Sighting | None:
        """What the frame shows the session's identity check, and when to check again."""
        if verdict.face_count is not None and verdict.face_count != 1:
            camera.check_identity = True  # whoever comes back is a new face track
        if embedding is None:
            return None
        self.stats.identity_checks += 1
        camera.identity_at, camera.check_identity = now, False
        return Sighting(usable=True, faces=1, embedding=tuple(embedding))

    async def _send(self, session_id: str, message: Any) -> None:
        try:
            await self.registry.send(session_id, message)
        except (UnknownSession, SessionFailed, RegistryClosed):
            self._cameras.pop(session_id, None)  # erased, failed or shutting down

    async def _tell_unavailable(self) -> None:
        while True:
            await self._tell.wait()
            while self._to_tell:
                session_id = self._to_tell.pop()
                await self._send(session_id, VisionUnavailable(reason=self.unavailable_reason))

    async def _sweep(self) -> None:
        """Report the frames of sessions that got none analysed for a while; forget cameras that
        have been quiet for 10 minutes."""
        while True:
            await anyio.sleep(1.0)
            now = self.clock()
            for session_id, camera in list(self._cameras.items()):
                due = now - camera.reported_at >= self.config.skipped_report_seconds
                if camera.skipped and due and not camera.busy:
                    data = camera.counts(now)
                    await self._send(
                        session_id,
                        RecordEvent(
                            type=FRAMES_SKIPPED,
                            origin="vision",
                            ts=self.now_iso(),
                            data={"count": data["skipped"], "received": data["received"]},
                            unless_submitted=True,
                        ),
                    )
                if now - camera.seen > _IDLE_CAMERA_SECONDS and not camera.busy:
                    self._cameras.pop(session_id, None)


class IdentityCheckRelay:
    """The actors' `IdentityChecks` port: they are built before the vision service, which needs
    their registry, so the composition root points this at the service once it exists."""

    def __init__(self) -> None:
        self.service: VisionService | None = None

    def check_next(self, session_id: str) -> None:
        if self.service is not None:
            self.service.check_next(session_id)


class VisionDown(RuntimeError):
    """No analysing pool runs now (starting, rebuilding, or models missing)."""


def _backoff(failures: int) -> float:
    return _REVIVE_BACKOFF[min(failures, len(_REVIVE_BACKOFF)) - 1]


def _init_pool_worker(server_pid: int, config_json: bytes) -> None:
    owned_worker(server_pid)  # dies with the server, even with kill -9 (app/vision/parent_death.py)
    init_worker(config_json)


async def _shut(pool: ProcessPoolExecutor) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(lambda: pool.shutdown(wait=True, cancel_futures=True))
