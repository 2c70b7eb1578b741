"""The consumer process of `benchmarks/kafka.py`: reads the mirror's topic from the beginning and
times each event from the candidate's send (`data.sentNs`) to its first arrival."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from array import array
from collections import Counter
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped,unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]

from .ipc import W0, W1, Ready, describe, pin, run_async
from .kafka_ipc import CONSUMED, CONSUMER, CONSUMER_STOP, TOPIC
from .protocol import EventData


class MirrorEvent(msgspec.Struct):
    sessionId: str
    offset: int
    nodeId: str = ""
    data: EventData | None = None


@dataclasses.dataclass
class ConsumerResult:
    received: int = 0  # messages, repeats included
    distinct: int = 0
    distinct_window: int = 0  # first arrivals within the window
    lag_ns: array[int] = dataclasses.field(default_factory=lambda: array("q"))
    by_session: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    by_node: Counter[str] = dataclasses.field(default_factory=Counter)
    error: str = ""


def consumer_main(
    bootstrap: str,
    fetch_max_wait_ms: int,
    cpus: frozenset[int] | None,
    control: Any,
    watch: Any,
    results: Any,
) -> None:
    pin(cpus)
    with contextlib.suppress(KeyboardInterrupt):
        run_async(consume(bootstrap, fetch_max_wait_ms, control, watch, results))


async def consume(
    bootstrap: str, fetch_max_wait_ms: int, control: Any, watch: Any, results: Any
) -> None:
    """Reads the topic from the beginning until told to stop; an event's lag is its first
    arrival (the end of the fetch that brought it) minus its send."""
    result, seen = ConsumerResult(), dict[str, set[int]]()
    decode = msgspec.json.Decoder(MirrorEvent).decode
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_max_wait_ms,
    )
    ready = False
    try:
        await consumer.start()
        deadline = time.monotonic() + 60
        while TOPIC not in await consumer.topics():  # the mirror creates it
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {TOPIC} not created by the mirror within 60 s")
            await asyncio.sleep(0.1)
        consumer.subscribe([TOPIC])
        while not watch[CONSUMER_STOP]:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time_ns()
            start, end = control[W0], control[W1]
            for records in batches.values():
                for record in records:
                    result.received += 1
                    event = decode(record.value)
                    offsets = seen.setdefault(event.sessionId, set())
                    if event.offset in offsets:
                        continue
                    offsets.add(event.offset)
                    result.distinct += 1
                    result.by_node[event.nodeId] += 1
                    if start <= now < end:
                        result.distinct_window += 1
                    sent = event.data.sentNs if event.data is not None else None
                    if sent is not None and start <= sent < end:
                        result.lag_ns.append(now - sent)
            watch[CONSUMED] = result.distinct
            if not ready and consumer.assignment():
                ready = True
                results.put(Ready(CONSUMER, 1, 0, ""))
    except (KafkaError, OSError, TimeoutError, msgspec.DecodeError) as exc:
        result.error = describe(exc)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 5)
    if not ready:
        results.put(Ready(CONSUMER, 0, 1, result.error or "stopped before its assignment"))
    result.by_session = {sid: (len(o), max(o)) for sid, o in seen.items() if o}
    results.put(("consumer", result))
