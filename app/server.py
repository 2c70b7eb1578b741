"""The composition root: builds every service, wires them in one lifespan task group, and
returns the Starlette application."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from actors.commit_dispatch import CommitDispatch
from actors.events import USER_DISCONNECTED
from actors.fanout import Fanout
from actors.messages import RecordEvent
from actors.registry import Registry
from actors.session import ActorDeps
from actors.vision_episodes import EpisodeRules
from app import __version__
from app.access.idempotency import Idempotency
from app.access.ratelimit import RequestLimits
from app.access.signing import UrlSigner, signing_key
from app.access.socket_guard import SocketGuard
from app.access.tokens import resolve_admin_token
from app.http.bodies import now_iso
from app.http.endpoints import routes
from app.http.errors import ApiError, on_api_error, on_http_exception, on_unexpected
from app.http.openapi import openapi_handler
from app.http.pages import WebFiles, page_routes
from app.http.routes import ENDPOINTS
from app.http.routes.audit import AuditMiddleware
from app.http.security_headers import SecurityHeadersMiddleware
from app.kafka.cluster_view import ClusterView
from app.kafka.mirror_process import MirrorJob, MirrorProcess, quiet_aiokafka
from app.process.gc_pacer import GcPacer
from app.process.key_rotation import reload_master_keys_on_sighup
from app.services import Services
from app.settings import Settings
from app.sockets.admin import admin_socket
from app.sockets.candidate import candidate_socket
from app.storage.frames import FrameStore
from app.storage.journal import SqliteJournal
from app.storage.retention import purge_forever
from app.storage.schema import database_path
from app.storage.sealing.data_keys import MASTER_KEY_ENV, MASTER_KEY_FILE, DataKeys, MasterKeys
from app.storage.sealing.keystore import keystore_path
from app.storage.store import SqliteStore
from app.telemetry.metrics import Metrics
from app.vision.service import VisionService

log = logging.getLogger("vigil.server")


@asynccontextmanager
async def run_services(settings: Settings) -> AsyncIterator[Services]:
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
        if settings.kafka.bootstrap_servers:
            quiet_aiokafka()
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
        )
        registry = Registry(deps, store)
        await tg.start(registry.run)
        vision: VisionService | None = None
        if settings.vision.enabled:
            vision = VisionService(settings.vision, registry, now_iso)
            vision.register_metrics(metrics)
            await tg.start(vision.run)
        services = Services(
            settings=settings,
            admin_token=admin_token,
            node_id=node_id,
            metrics=metrics,
            journal=journal,
            store=store,
            registry=registry,
            fanout=fanout,
            limits=RequestLimits(settings.limits, metrics),
            idempotency=Idempotency(store),
            mirror=mirror,
            cluster=cluster,
            frames=frames,
            vision=vision,
            signer=UrlSigner(signing_key(settings.auth.url_signing_key, storage)),
            sockets=SocketGuard(
                settings.server.allowed_origins,
                settings.limits.max_sockets_per_address,
                settings.limits.address_events_per_second,
                settings.limits.address_events_burst,
            ),
        )
        _register_gauges(services)
        await record_lost_connections(services)
        tg.start_soon(purge_forever, services)
        pacer = GcPacer(
            settings.server.gc_young_seconds,
            settings.server.gc_full_seconds,
            open_sockets=lambda: services.sockets.open_total,
            closed_sockets=lambda: services.sockets.closed_total,
        )
        pacer.register_metrics(metrics)
        tg.start_soon(pacer.run)
        tg.start_soon(reload_master_keys_on_sighup, storage, journal, mirror)
        log.info("vigil ready: storage %s, node %s", database_path(storage), services.node_id)
        try:
            yield services
        finally:
            grace = settings.server.shutdown_grace_seconds
            with anyio.move_on_after(grace, shield=True) as scope:
                await registry.close()
                await frames.drain()
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


async def record_lost_connections(services: Services) -> None:
    """Sessions a candidate was connected to when the process died (kill -9, power cut) get the
    `user_disconnected` that a clean shutdown would have recorded. Runs before sockets open."""
    for session_id in await services.journal.disconnect_stored_states():
        log.info("session %s: the server stopped while its candidate was connected", session_id)
        await services.registry.send(
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


def _register_gauges(services: Services) -> None:
    metrics, registry, fanout, journal = (
        services.metrics,
        services.registry,
        services.fanout,
        services.journal,
    )
    metrics.gauge("vigil_live_sessions", "Session actors in memory.", lambda: registry.live_count)
    metrics.gauge(
        "vigil_mailbox_depth_total",
        "Messages waiting in all session mailboxes.",
        lambda: sum(registry.mailbox_depths()),
    )
    metrics.gauge(
        "vigil_mailbox_depth_max",
        "Messages waiting in the fullest session mailbox.",
        lambda: max(registry.mailbox_depths(), default=0),
    )
    metrics.gauge(
        "vigil_journal_queue_depth",
        "Operations waiting for the journal writer.",
        lambda: journal.queue_depth,
    )
    metrics.gauge(
        "vigil_admin_subscribers",
        "Admin sockets with at least one subscription.",
        lambda: fanout.subscriber_count,
    )
    metrics.gauge(
        "vigil_admins_evicted_total",
        "Admin sockets disconnected for falling behind.",
        lambda: fanout.evicted_total,
    )
    metrics.gauge(
        "vigil_admin_deliveries_total",
        "Messages queued to admin sockets.",
        lambda: fanout.delivered_total,
    )
    metrics.gauge(
        "vigil_session_restarts_total",
        "Session actors restarted after a crash.",
        lambda: registry.restarts_total,
    )
    metrics.gauge(
        "vigil_data_keys_under_retired_master",
        "Data keys still wrapped by a retired master key (re-wrapped in the background).",
        lambda: journal.keys_under_retired_master,
    )
    metrics.gauge(
        "vigil_sessions_failed_total",
        "Sessions stopped after repeated crashes.",
        lambda: registry.failed_total,
    )
    if services.mirror is not None:
        _register_kafka_gauges(metrics, services.mirror, services.cluster)
    metrics.gauge(
        "vigil_sessions_evicted_total",
        "Session actors that left memory.",
        lambda: registry.evicted_total,
    )


def _register_kafka_gauges(
    metrics: Metrics, mirror: MirrorProcess, cluster: ClusterView | None
) -> None:
    metrics.gauge(
        "vigil_kafka_published_total", "Events published to Kafka.", lambda: mirror.published_total
    )
    metrics.gauge(
        "vigil_kafka_lag_events",
        "Stored events not yet published to Kafka.",
        lambda: mirror.lag_events,
    )
    metrics.gauge(
        "vigil_kafka_lag_seconds",
        "How long the oldest unpublished event has waited.",
        lambda: mirror.lag_seconds,
    )
    metrics.gauge(
        "vigil_kafka_connected", "1 while the mirror has a producer.", lambda: int(mirror.connected)
    )
    metrics.gauge(
        "vigil_kafka_errors_total",
        "Mirror reconnections after errors.",
        lambda: mirror.errors_total,
    )
    if cluster is not None:
        metrics.gauge(
            "vigil_cluster_received_total",
            "Messages of other nodes consumed.",
            lambda: cluster.received_total,
        )
        metrics.gauge(
            "vigil_cluster_remote_sessions",
            "Sessions of other nodes known here.",
            lambda: cluster.remote_count,
        )


def build_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with run_services(settings) as services:
            app.state.services = services
            yield

    return Starlette(
        routes=[
            *routes(ENDPOINTS),
            Route("/openapi.json", openapi_handler(ENDPOINTS, __version__), methods=["GET"]),
            WebSocketRoute("/ws/candidate/{session_id}", candidate_socket),
            WebSocketRoute("/ws/admin", admin_socket),
            *page_routes(WebFiles()),
        ],
        lifespan=lifespan,
        # Outermost first. Answers to unexpected errors leave from outside both, so
        # `on_unexpected` adds the security headers itself.
        middleware=[Middleware(SecurityHeadersMiddleware), Middleware(AuditMiddleware)],
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
    )
