"""The browser SDK in a cluster (issue 27): given the address of a node that does not host its
session (a plain load balancer's pick), it follows the `moved` close to the owner, keeps its
events, and they are stored there once each, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.browser_support import Chromium, PageWatch, another_origin, launch_chromium
from tests.kafka_support import Broker
from tests.test_browser_candidate import (
    INTEGRATOR_PAGE,
    assert_each_once_in_order,
    has,
    stored_when,
)
from tests.test_cluster import nodes

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
