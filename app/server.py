"""The composition root: builds every service, wires them in one lifespan task group, and
returns the Starlette application."""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from actors.audio_episodes import AudioRules
from actors.behaviour_watch import BehaviourRules
from actors.camera_watch import CameraRules
from actors.commit_dispatch import CommitDispatch
from actors.events import USER_DISCONNECTED
from actors.fanout import Fanout
from actors.identity import IdentityRules
from actors.messages import RecordEvent
from actors.registry import Registry
from actors.session import ActorDeps
from actors.vision_episodes import EpisodeRules
from app import __version__
from app.access.gate import AccessGate
from app.access.idempotency import Idempotency
from app.access.ratelimit import RequestLimits
from app.access.refused import Refused
from app.access.signing import UrlSigner, signing_key
from app.access.socket_guard import SocketGuard
from app.access.tokens import resolve_admin_token
from app.audio.clips import AudioClips
from app.audio.intake import AudioIntake
from app.http.asyncapi import asyncapi_handler
from app.http.bodies import now_iso
from app.http.endpoints import EndpointBinder
from app.http.errors import on_http_exception, on_refused, on_unexpected
from app.http.forwarding import Forwarder, ForwardingSlot, SessionForwarding
from app.http.openapi import openapi_handler
from app.http.pages import WebFiles, page_routes
from app.http.routes import (
    ENDPOINTS,
    assessments,
    audio_clips,
    audit,
    demo,
    events,
    frames,
    identity,
    interventions,
    recordings,
    reports,
    reviews,
    screen,
    sessions,
    verdicts,
    webhooks,
)
from app.http.routes.audit import AuditMiddleware
from app.http.sdk_cors import SdkCorsMiddleware
from app.http.security_headers import SecurityHeadersMiddleware
from app.http.session_calls import SessionCalls
from app.kafka.announcer import ClusterAnnouncer
from app.kafka.cluster_view import ClusterView
from app.kafka.mirror_process import MirrorJob, MirrorProcess, quiet_aiokafka
from app.process.gc_pacer import GcPacer
from app.process.key_rotation import reload_master_keys_on_sighup
from app.sessions.cohort import CohortCheck
from app.sessions.deadlines import DeadlineScheduler
from app.sessions.directory import SessionDirectory
from app.settings import ConfigError, ServerSettings, Settings
from app.settings.behaviour import BehaviourFileError, BehaviourSettings, load_rules
from app.settings.vision import VisionConfig
from app.sockets.admin import COMMAND_DECODER, AdminSocket
from app.sockets.candidate import CandidateSocket
from app.storage.frames import FrameStore, clip_store
from app.storage.journal import SqliteJournal
from app.storage.retention import erase_session, purge_forever
from app.storage.schema import database_path
from app.storage.screen_chunks import ScreenChunks
from app.storage.sealing.data_keys import MASTER_KEY_ENV, MASTER_KEY_FILE, DataKeys, MasterKeys
from app.storage.sealing.keystore import keystore_path
from app.storage.store import SqliteStore
from app.telemetry.gauges import register_gauges
from app.telemetry.metrics import Metrics
from app.vision.service import IdentityCheckRelay, VisionService
from app.webhooks.service import WebhookService, endpoint_secrets

log = logging.getLogger("vigil.server")


@dataclass(frozen=True, slots=True)
class Running:
    """What `run_services` started, for the composition root to wire (and tests to look
    inside). No handler or socket takes it: each gets only its own collaborators
    (`_http_routes`, `_sockets`); only erasure reads it, through retention's `Erasing`."""

    settings: Settings
    node_id: str
    metrics: Metrics
    journal: SqliteJournal
    store: SqliteStore
    registry: Registry
    fanout: Fanout
    limits: RequestLimits
    idempotency: Idempotency
    gate: AccessGate
    directory: SessionDirectory
    sockets: SocketGuard
    signer: UrlSigner
    frames: FrameStore
    mirror: MirrorProcess | None
    cluster: ClusterView | None
    vision: VisionService | None
    announcer: ClusterAnnouncer | None = None
    webhooks: WebhookService | None = None
    deadlines: DeadlineScheduler | None = None  # time limits and camera off
    # Issue 24: the microphone path and its episodes' clips.
    audio: AudioIntake | None = None
    clips: FrameStore | None = None
    screen: ScreenChunks | None = None
    cohort: CohortCheck | None = None  # issue 28: collaboration across an assessment's sessions


@asynccontextmanager
async def run_services(settings: Settings) -> AsyncIterator[Running]:
    """Start every service in one task group; on exit drain sessions, then the journal."""
    storage = settings.storage_dir
    admin_token, generated = resolve_admin_token(settings.auth.admin_token, storage)
    if generated:
        log.warning(
            "no admin token configured: generated one and saved it to %s", storage / "admin-token"
        )
    node_id = settings.server.node_id or socket.gethostname()
    master_keys, generated_key = MasterKeys.from_environment(os.environ, storage)
    if generated_key:
        log.warning(
            "no %s in the environment: generated a master key and saved it to %s. Whoever copies "
            "the storage folder can then read it: give the key in the environment instead",
            MASTER_KEY_ENV,
            storage / MASTER_KEY_FILE,
        )
    keys = DataKeys(master_keys)
    metrics = Metrics()
    fanout = Fanout()
    mirror: MirrorProcess | None = None
    journal = SqliteJournal(
        database_path(storage),
        keystore=keystore_path(storage),
        keys=keys,
        synchronous=settings.storage.synchronous,
        queue_size=settings.storage.journal_queue_size,
        max_batch=settings.storage.journal_max_batch,
        commit_interval=settings.storage.commit_interval_ms / 1000,
        cache_mb=settings.storage.cache_mb,
        on_committed=CommitDispatch(fanout).on_committed,
        metrics=metrics,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(journal.run)
        store = await SqliteStore.open(database_path(storage), keystore_path(storage), keys)
        cluster: ClusterView | None = None
        announcer: ClusterAnnouncer | None = None
        if settings.kafka.bootstrap_servers:
            quiet_aiokafka()
            announcer = ClusterAnnouncer(settings.kafka, node_id, public_url(settings.server))
            await tg.start(announcer.run)
            mirror = MirrorProcess(
                MirrorJob(
                    database=str(database_path(storage)),
                    keystore=str(keystore_path(storage)),
                    master_keys=master_keys.encoded(),
                    cursor_file=str(storage / f"kafka-{settings.kafka.topic}.cursor"),
                    node_id=node_id,
                    kafka=settings.kafka,
                    scoring=settings.scoring,
                    log_level=settings.server.log_level,
                )
            )
            await tg.start(mirror.run)
            if settings.kafka.cluster:
                cluster = ClusterView(settings.kafka, node_id, fanout)
                await tg.start(cluster.run)
        frames = FrameStore(storage / "frames", settings.vision.keep_frames, store.cipher)
        await tg.start(frames.run)
        identity_checks = IdentityCheckRelay()
        deadlines = DeadlineScheduler()  # time limits and camera off (docs/architecture.md)
        clips = clip_store(storage, store.cipher)
        await tg.start(clips.run)
        behaviour = settings.behaviour
        cohort = CohortCheck(
            store, journal.flush, behaviour.collaboration, now_iso, behaviour.cohort_assessments
        )
        deps = ActorDeps(
            scoring=settings.scoring,
            sessions=settings.sessions,
            journal=journal,
            publisher=fanout,
            now_iso=now_iso,
            alerts=settings.alerts,
            episodes=EpisodeRules(
                seconds=settings.vision.episode_seconds,
                min_frames=settings.vision.episode_min_frames,
            ),
            frames=frames,
            state_interval=settings.storage.state_interval_seconds,
            identity=IdentityRules(
                threshold=settings.vision.identity_match_threshold,
                mismatch_seconds=settings.vision.identity_mismatch_seconds,
                mismatch_min_frames=settings.vision.identity_mismatch_min_frames,
            ),
            identity_checks=identity_checks,
            timers=deadlines,
            camera=CameraRules(off_seconds=settings.vision.camera_off_seconds)
            if settings.vision.enabled
            else None,
            audio=AudioRules(episode_seconds=settings.audio.episode_seconds),
            clips=AudioClips(clips, settings.audio.clip_seconds),
            behaviour=behaviour_rules(behaviour),
            cohort=cohort,
        )
        registry = Registry(deps, store)
        await tg.start(registry.run)
        await tg.start(deadlines.run, registry.send)
        await tg.start(cohort.run, registry.send)
        vision: VisionService | None = None
        if settings.vision.enabled:
            vision = identity_checks.service = VisionService(
                _vision_config(settings), registry, now_iso
            )
            vision.register_metrics(metrics)
            await tg.start(vision.run)
        webhooks: WebhookService | None = None
        if settings.webhooks.endpoints:
            webhooks = WebhookService(
                settings.webhooks,
                endpoint_secrets(settings.webhooks),
                settings.scoring,
                store,
                storage,
                metrics,
            )
            await tg.start(webhooks.run)
        limits = RequestLimits(settings.limits, metrics)
        running = Running(
            settings=settings,
            node_id=node_id,
            metrics=metrics,
            journal=journal,
            store=store,
            registry=registry,
            fanout=fanout,
            limits=limits,
            idempotency=Idempotency(store),
            gate=AccessGate(settings.auth, admin_token, registry, store, limits),
            directory=SessionDirectory(store, registry, cluster),
            sockets=SocketGuard(
                settings.server.allowed_origins,
                settings.limits.max_sockets_per_address,
                settings.limits.address_events_per_second,
                settings.limits.address_events_burst,
            ),
            signer=UrlSigner(signing_key(settings.auth.url_signing_key, storage)),
            frames=frames,
            mirror=mirror,
            cluster=cluster,
            announcer=announcer,
            vision=vision,
            webhooks=webhooks,
            deadlines=deadlines,
            cohort=cohort,
            audio=AudioIntake(settings.audio, registry) if settings.audio.enabled else None,
            clips=clips,
            screen=ScreenChunks(
                storage / "screen",
                store.cipher,
                settings.screen.quota_mb * 1024 * 1024,
                settings.screen.max_chunk_bytes,
            ),
        )
        register_gauges(metrics, registry, fanout, journal, mirror, cluster)
        cohort.register_metrics(metrics)
        await record_lost_connections(journal, registry)
        await deadlines.rebuild(store)  # a deadline that passed while down fires now
        tg.start_soon(purge_forever, running)
        guard = running.sockets
        pacer = GcPacer(
            settings.server.gc_young_seconds,
            settings.server.gc_full_seconds,
            open_sockets=lambda: guard.open_total,
            closed_sockets=lambda: guard.closed_total,
        )
        pacer.register_metrics(metrics)
        tg.start_soon(pacer.run)
        tg.start_soon(reload_master_keys_on_sighup, storage, journal, mirror)
        log.info("vigil ready: storage %s, node %s", database_path(storage), node_id)
        try:
            yield running
        finally:
            grace = settings.server.shutdown_grace_seconds
            with anyio.move_on_after(grace, shield=True) as scope:
                if announcer is not None:
                    await announcer.stop()  # dashboards elsewhere show this node stopped
                await registry.close()
                await frames.drain()
                await clips.drain()
                if mirror is not None:
                    await _drain_mirror(mirror, journal, grace / 2)
                await journal.close()
            if scope.cancelled_caught:
                log.error(
                    "shutdown: sessions or journal did not drain within %.0f s",
                    settings.server.shutdown_grace_seconds,
                )
            else:
                log.info("shutdown: every accepted event is committed")
            with anyio.CancelScope(shield=True):
                await store.close()
                if mirror is not None:
                    await mirror.stop()
            tg.cancel_scope.cancel()


def behaviour_rules(settings: BehaviourSettings) -> BehaviourRules:
    try:
        return load_rules(settings)
    except BehaviourFileError as exc:
        raise ConfigError(str(exc)) from None


def public_url(server: ServerSettings) -> str:
    """Where clients and the other nodes reach this node directly."""
    if server.public_url:
        return server.public_url
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"http://{host}:{server.port}"


async def _drain_mirror(mirror: MirrorProcess, journal: SqliteJournal, seconds: float) -> None:
    """Publish what is committed before the journal closes (it writes the mirror's cursor)."""
    await journal.flush()
    with anyio.move_on_after(seconds):
        await mirror.drain()
        log.info("shutdown: every stored event is published to Kafka")
        return
    log.warning(
        "shutdown: %d events not yet published to Kafka; they will be at the next start",
        mirror.lag_events,
    )


def _vision_config(settings: Settings) -> VisionConfig:
    """`[vision]` with its model cache under the storage folder unless configured."""
    vision = settings.vision
    if vision.model_cache:
        return vision
    return msgspec.structs.replace(vision, model_cache=str(settings.storage_dir / "models"))


async def record_lost_connections(journal: SqliteJournal, registry: Registry) -> None:
    """Sessions a candidate was connected to when the process died (kill -9, power cut) get the
    `user_disconnected` that a clean shutdown would have recorded. Runs before sockets open."""
    for session_id in await journal.disconnect_stored_states():
        log.info("session %s: the server stopped while its candidate was connected", session_id)
        await registry.send(
            session_id,
            RecordEvent(
                type=USER_DISCONNECTED,
                origin="server",
                ts=now_iso(),
                data={
                    "code": 1006,
                    "reason": "the server stopped while the candidate was connected",
                },
            ),
        )


def build_app(settings: Settings, started: Callable[[Running], None] | None = None) -> Starlette:
    """The application; `started`, if given, is called with what its lifespan started (tests
    look inside)."""
    openapi = Route("/openapi.json", openapi_handler(ENDPOINTS, __version__), methods=["GET"])
    asyncapi = Route(
        "/asyncapi.json", asyncapi_handler(__version__, COMMAND_DECODER.type), methods=["GET"]
    )
    pages = page_routes(WebFiles())
    forwarding = ForwardingSlot()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with run_services(settings) as running:
            # The handlers are built with their collaborators, which exist only once the
            # services run: their routes join the router here, before the first request.
            app.router.routes[:] = [
                *_http_routes(running),
                openapi,
                asyncapi,
                *_sockets(running, forwarding),
                *pages,
            ]
            async with httpx.AsyncClient(timeout=30) as hop:
                if running.cluster is not None:
                    forwarding.forwarder = Forwarder(
                        running.cluster, hop, settings.server.max_body_bytes
                    )
                if started is not None:
                    started(running)
                try:
                    yield
                finally:
                    forwarding.forwarder = None
                    app.router.routes[:] = [openapi, asyncapi, *pages]

    return Starlette(
        routes=[openapi, asyncapi, *pages],
        lifespan=lifespan,
        # Outermost first. Answers to unexpected errors leave from outside it, so
        # `on_unexpected` adds the security headers itself. The audit log's middleware is each
        # endpoint's own (`_http_routes`).
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(SdkCorsMiddleware, allowed_origins=settings.server.allowed_origins),
            Middleware(SessionForwarding, slot=forwarding),
        ],
        exception_handlers={
            Refused: on_refused,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
    )


def _http_routes(r: Running) -> list[Route]:
    """Every endpoint of `ENDPOINTS`, in its order, served by its module's handlers."""
    s = r.settings
    max_body = s.server.max_body_bytes
    calls = SessionCalls(r.gate, r.store, r.registry, r.idempotency, s.scoring, max_body)
    opener = sessions.SessionOpener(
        s.scoring,
        s.server.node_id,
        r.journal,
        r.fanout,
        None if r.deadlines is None else functools.partial(r.deadlines.session_created, r.store),
        None if r.announcer is None else r.announcer.created,
    )
    bind = EndpointBinder(r.metrics, [Middleware(AuditMiddleware, audit=r.journal.audit)]).routes
    erase = functools.partial(erase_session, r)
    return [
        *bind(
            sessions.ENDPOINTS,
            sessions.SessionRoutes(
                r.gate, calls, opener, r.directory, r.store, r.registry, r.idempotency,
                r.metrics, erase, max_body,
            ),
        ),
        *bind(recordings.ENDPOINTS, recordings.RecordingRoutes(calls, r.store)),
        *bind(
            identity.ENDPOINTS,
            identity.IdentityRoutes(
                r.gate, calls, r.vision, s.vision.max_photo_bytes, s.candidate.consent_text,
                s.retention.completed_session_days,
            ),
        ),
        *bind(reviews.ENDPOINTS, reviews.ReviewRoutes(calls, r.store, s.scoring)),
        *bind(interventions.ENDPOINTS, interventions.InterventionRoutes(calls, r.registry)),
        *bind(
            reports.ENDPOINTS,
            reports.ReportRoutes(
                r.gate, calls, r.store, s.scoring, r.frames, r.signer, s.auth.media_url_seconds
            ),
        ),
        *bind(events.ENDPOINTS, events.EventRoutes(r.gate, calls, r.store)),
        *bind(
            frames.ENDPOINTS,
            frames.FrameRoutes(r.gate, calls, r.frames, r.signer, r.journal.audit),
        ),
        *bind(
            assessments.ENDPOINTS,
            assessments.AssessmentRoutes(r.gate, r.idempotency, r.journal, r.store, max_body),
        ),
        *bind(
            demo.ENDPOINTS,
            demo.DemoRoutes(
                s.demo.enabled, r.limits, opener, r.journal, r.store, max_body, s.demo.escalation
            ),
        ),
        *bind(audit.ENDPOINTS, audit.AuditRoutes(r.gate, r.store)),
        *bind(webhooks.ENDPOINTS, webhooks.WebhookRoutes(r.gate, r.webhooks)),
        *bind(
            verdicts.ENDPOINTS,
            verdicts.VerdictRoutes(r.gate, calls, r.store, r.directory),
        ),
        *bind(
            audio_clips.ENDPOINTS,
            audio_clips.AudioClipRoutes(r.gate, calls, r.clips, r.signer, r.journal.audit),
        ),
        *bind(
            screen.ENDPOINTS,
            screen.ScreenRoutes(r.gate, calls, None, r.signer, r.journal.audit).setup(
                r.screen, r.registry
            ),
        ),
    ]  # fmt: skip


def _sockets(r: Running, forwarding: ForwardingSlot) -> list[WebSocketRoute]:
    s = r.settings
    candidate = CandidateSocket(
        r.gate, r.sockets, r.registry, r.metrics, r.vision, s.candidate, s.limits, r.audio,
        r.cluster,
    )  # fmt: skip
    admin = AdminSocket(
        r.gate, r.sockets, r.registry, r.fanout, r.directory, r.store, r.cluster,
        r.journal.audit, r.metrics, s.admin, forwarding,
    )  # fmt: skip
    return [
        WebSocketRoute("/ws/candidate/{session_id}", candidate.serve),
        WebSocketRoute("/ws/admin", admin.serve),
    ]
