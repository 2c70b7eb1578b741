"""What one run of `benchmarks/kafka.py` records: filled in by the coordinator, read by the
report (`kafka_report`)."""

from __future__ import annotations

import dataclasses

from .cluster_admin import ClusterAdminResult
from .ipc import CandidateResult
from .kafka_consumer import ConsumerResult
from .server import Server


@dataclasses.dataclass
class Sample:
    at_ns: int  # halfway between the request and the answer
    metrics: dict[str, float]
    answered_ns: int


@dataclasses.dataclass
class Node:
    name: str
    server: Server
    sessions: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    samples: list[Sample] = dataclasses.field(default_factory=list)
    end_sample: Sample | None = None
    # At the window's start and end. `cpu` is the server's process tree less its mirror process,
    # `mirror_cpu` the mirror process alone (None there: it was not found).
    cpu: list[float] = dataclasses.field(default_factory=list)
    mirror_cpu: list[float | None] = dataclasses.field(default_factory=list)
    mirror_pid: int | None = None
    mirror_restarted: bool = False
    rss_connected: float | None = None
    rss_end: float | None = None
    mirror_rss_connected: float | None = None
    mirror_rss_end: float | None = None
    exit_code: int | None = None
    stored: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Outcome:
    label: str
    rate: float
    nodes: list[Node] = dataclasses.field(default_factory=list)
    window_s: float = 0.0
    window_ns: tuple[int, int] = (0, 0)
    workers: list[CandidateResult] = dataclasses.field(default_factory=list)
    consumer: ConsumerResult | None = None
    admin: ClusterAdminResult | None = None
    broker_cpu: list[float] = dataclasses.field(default_factory=list)
    client_cpu: list[float] = dataclasses.field(default_factory=list)
    caught_up_s: float | None = None  # after the servers stopped, until the consumer had all
    notes: list[str] = dataclasses.field(default_factory=list)
