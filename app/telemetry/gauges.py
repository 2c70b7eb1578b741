"""The gauges `/metrics` reads from the server's services at each scrape; registered once by
the composition root (app/server.py). The services are seen through what is read of them."""

from __future__ import annotations

from typing import Protocol

from actors.fanout import Fanout
from actors.registry import Registry
from app.telemetry.metrics import Metrics


class JournalGauges(Protocol):
    @property
    def queue_depth(self) -> int: ...
    @property
    def keys_under_retired_master(self) -> int: ...


class MirrorGauges(Protocol):
    @property
    def published_total(self) -> int: ...
    @property
    def lag_events(self) -> int: ...
    @property
    def lag_seconds(self) -> float: ...
    @property
    def connected(self) -> bool: ...
    @property
    def errors_total(self) -> int: ...


class ClusterGauges(Protocol):
    @property
    def received_total(self) -> int: ...
    @property
    def remote_count(self) -> int: ...
    @property
    def summaries_total(self) -> int: ...
    @property
    def passed_total(self) -> int: ...
    @property
    def unreachable_nodes(self) -> int: ...


def register_gauges(
    metrics: Metrics,
    registry: Registry,
    fanout: Fanout,
    journal: JournalGauges,
    mirror: MirrorGauges | None,
    cluster: ClusterGauges | None,
) -> None:
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
    if mirror is not None:
        _register_kafka_gauges(metrics, mirror, cluster)
    metrics.gauge(
        "vigil_sessions_evicted_total",
        "Session actors that left memory.",
        lambda: registry.evicted_total,
    )


def _register_kafka_gauges(
    metrics: Metrics, mirror: MirrorGauges, cluster: ClusterGauges | None
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
            "Events of other nodes' watched sessions shown here.",
            lambda: cluster.received_total,
        )
        metrics.gauge(
            "vigil_cluster_passed_total",
            "Events of other nodes read and dropped by key (nobody here watches them).",
            lambda: cluster.passed_total,
        )
        metrics.gauge(
            "vigil_cluster_summaries_total",
            "Session summaries of other nodes read from the cluster topic.",
            lambda: cluster.summaries_total,
        )
        metrics.gauge(
            "vigil_cluster_nodes_unreachable",
            "Other nodes that stopped answering their heartbeats.",
            lambda: cluster.unreachable_nodes,
        )
        metrics.gauge(
            "vigil_cluster_remote_sessions",
            "Sessions of other nodes known here.",
            lambda: cluster.remote_count,
        )
