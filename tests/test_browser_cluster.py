"""The browser SDK in a cluster (issue 27): given the address of a node that does not host its
session (a plain load balancer's pick), it follows the `moved` close to the owner, keeps its
events, and they are stored there once each, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import anyio
import httpx
import pytest
from playwright.async_api import expect

from tests.browser_support import Chromium, PageWatch, another_origin, launch_chromium
from tests.kafka_support import Broker
from tests.support import ADMIN_TOKEN, ServerProcess, free_port, running_server
from tests.test_browser_candidate import (
    INTEGRATOR_PAGE,
    assert_each_once_in_order,
    has,
    stored_when,
)
from tests.test_browser_dashboard import cell, signed_in
from tests.test_cluster import node_settings, nodes

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    async with launch_chromium() as browser:
        yield browser


async def test_the_sdk_given_another_node_reaches_the_owner(
    tmp_path: Path, broker: Broker, chromium: Chromium
) -> None:
    watch = PageWatch()
    try:
        async with nodes(tmp_path, broker, "a", "b") as (node_a, node_b):
            session_id, token = await node_a.create_session()
            async with another_origin({"/exam": INTEGRATOR_PAGE}) as site:
                query = {"vigil": node_b.url, "session": session_id, "token": token, "start": 1}
                page = await watch.open(chromium.tabs, f"{site}/exam?{urlencode(query)}")
                await page.bring_to_front()
                events = await stored_when(
                    node_a, session_id, has("assessment_started", "heartbeat")
                )
                status = await page.evaluate("window.vigil.status")
                assert status == "connected"
        assert_each_once_in_order(events)
        assert node_b.services.metrics.candidate_connections == 0
        watch.assert_clean()
    finally:
        await watch.close()


async def test_the_dashboard_names_a_node_that_went_down_and_keeps_its_sessions(
    tmp_path: Path, broker: Broker, chromium: Chromium
) -> None:
    port_a = free_port()
    process = ServerProcess(
        tmp_path / "a",
        port_a,
        {
            "VIGIL_SERVER_NODE_ID": "a",
            "VIGIL_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port_a}",
            "VIGIL_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "VIGIL_KAFKA_HEARTBEAT_SECONDS": "0.2",
        },
    )
    process.start()
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=process.url, headers=headers) as client:
            body = {"candidateEmail": "d@example.com", "candidateName": "On A", "assessmentId": "x"}
            on_a = (await client.post("/candidate-sessions", json=body)).json()["id"]
        async with running_server(tmp_path / "b", **node_settings(broker, "b", free_port())) as b:
            page, console = await signed_in(chromium, b)
            await expect(cell(page, on_a, "candidate")).to_contain_text("On A")
            await expect(page.locator("#nodes")).to_be_hidden()
            await anyio.to_thread.run_sync(process.kill)
            await expect(page.locator("#nodes")).to_contain_text("Node a unreachable")
            await expect(cell(page, on_a, "candidate")).to_contain_text("On A")  # last known
            await console.assert_clean()
    finally:
        process.stop()
