"""What a comparison records: each paced step (a Point) and each system's run in one round."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Point:
    """One paced step: the generator's reply, and the CPU used in its measured window."""

    label: str  # "ladder", "refine", "25%", "50%", "75%" or "same rate"
    rate: float
    reply: dict[str, Any]
    window_s: float = 0.0
    server_cpu_s: float | None = None
    generator_cpu_s: float | None = None
    cpu_by_process: dict[str, float] = dataclasses.field(default_factory=dict)
    failure: str = ""  # why it does not count as sustained; "" when it does

    @property
    def passed(self) -> bool:
        return not self.failure

    @property
    def offered(self) -> float:
        return float(self.reply["sentWindow"]) / self.reply["windowS"]

    @property
    def delivered(self) -> float:
        return float(self.reply["deliveredWindow"]) / self.reply["windowS"]

    def latency(self, key: str) -> float | None:
        latency = self.reply.get("latency")
        return None if latency is None else float(latency[key])

    def ack_latency(self, key: str) -> float | None:
        latency = self.reply.get("ackLatency")
        return None if latency is None else float(latency[key])

    @property
    def cpu_per_1000(self) -> float | None:
        events = self.reply["deliveredWindow"]
        if self.server_cpu_s is None or not events:
            return None
        return self.server_cpu_s * 1000 / events

    @property
    def server_cores(self) -> float | None:
        if self.server_cpu_s is None or not self.window_s:
            return None
        return self.server_cpu_s / self.window_s

    @property
    def generator_cores(self) -> float | None:
        if self.generator_cpu_s is None or not self.window_s:
            return None
        return self.generator_cpu_s / self.window_s


@dataclasses.dataclass
class SystemRun:
    name: str
    round: int
    connected: int = 0
    candidates: int = 0
    admins: int = 0
    connect_s: float = 0.0
    connect_error: str = ""
    rss_before_mb: float | None = None
    rss_connected_mb: float | None = None
    ladder: list[Point] = dataclasses.field(default_factory=list)
    saturation: Point | None = None  # the highest sustained step
    limit: str = ""  # what stopped the ladder
    points: dict[str, Point] = dataclasses.field(default_factory=dict)
    restarts: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def kb_per_candidate(self) -> float | None:
        if self.rss_before_mb is None or self.rss_connected_mb is None or not self.connected:
            return None
        return (self.rss_connected_mb - self.rss_before_mb) * 1024 / self.connected

    def steps(self) -> list[Point]:
        return [*self.ladder, *self.points.values()]
