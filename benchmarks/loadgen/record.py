"""What one run records: filled in by the coordinator, read by the report."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from .ipc import AdminResult, CandidateResult
from .server import Server


@dataclasses.dataclass
class Sample:
    at_ns: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Run:
    args: argparse.Namespace
    server: Server
    assessment: str
    server_cpus: frozenset[int] | None
    client_cpus: frozenset[int] | None
    candidates: int = 0
    connected: int = 0
    admins_connected: int = 0
    connect_errors: list[str] = dataclasses.field(default_factory=list)
    setup_s: float = 0.0
    connect_s: float = 0.0
    rss_start: float | None = None
    rss_before: float | None = None
    rss_connected: float | None = None
    rss_end: float | None = None
    window_start: Sample = dataclasses.field(default_factory=Sample)
    window_end: Sample = dataclasses.field(default_factory=Sample)
    t0_ns: int = 0
    killed_at_ns: int | None = None
    workers: list[CandidateResult] = dataclasses.field(default_factory=list)
    admin_results: list[AdminResult] = dataclasses.field(default_factory=list)
    exit_code: int | None = None
    lost: int | None = None
    stored: int | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    scrapes: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)
