"""The Kafka mirror and several nodes behind one dashboard, against a real Kafka-protocol broker
(Tansu) that the tests start themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

from tests.kafka_support import Broker, TopicReader, first_arrivals_in_order
from tests.support import (
    ADMIN_TOKEN,
    TS,
    Peer,
    RunningServer,
    ServerProcess,
    eventually,
    free_port,
    running_server,
)

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def reading(broker: Broker) -> AsyncIterator[TopicReader]:
    reader = TopicReader(broker.bootstrap)
    async with anyio.create_task_group() as tg:
        tg.start_soon(reader.run)
        try:
            yield reader
        finally:
            tg.cancel_scope.cancel()


def kafka(broker: Broker, **more: Any) -> dict[str, Any]:
    # A short request timeout: a killed broker is noticed in seconds, not tens of seconds.
    return {
        "bootstrap_servers": broker.bootstrap,
        "cluster": False,
        "request_timeout_ms": 3000,
        **more,
    }


async def stream(server: RunningServer, session_id: str, token: str, first: int, last: int) -> None:
    async with server.candidate(session_id, token) as candidate:
        for seq in range(first, last + 1):
            kind = "tab_switch_detected" if seq % 10 == 0 else "heartbeat"
            await candidate.event(seq, kind, questionId=f"q{seq % 3}")
        await candidate.acked(last, timeout=30)


async def settled(server: RunningServer, sessions: list[str], last: int) -> None:
    """Wait until every session's log ends at `last` (a closed socket's user_disconnected is
    recorded just after the close)."""
    with anyio.fail_after(30):
        while True:
            states = [server.services.registry.live_state(s) for s in sessions]
            if all(state is not None and state.lastOffset == last for state in states):
                return
            await anyio.sleep(0.02)


async def test_every_event_published_in_order_under_load(tmp_path: Path, broker: Broker) -> None:
    async with running_server(tmp_path / "node", kafka=kafka(broker)) as server:
        sessions = [await server.create_session() for _ in range(10)]
        async with reading(broker) as reader:
            async with anyio.create_task_group() as tg:
                for session_id, token in sessions:
                    tg.start_soon(stream, server, session_id, token, 1, 300)
            # Each session: 300 events and the user_disconnected of its socket closing.
            await settled(server, [s for s, _ in sessions], 301)
            await eventually(lambda: reader.has_all({s: 301 for s, _ in sessions}), timeout=30)
            first = sessions[0][0]
            stored = await server.services.store.events(first)
            final = server.services.registry.live_state(first)
            mirror = server.services.mirror
            assert mirror is not None
            await eventually(lambda: mirror.lag_events == 0, timeout=10)
    for session_id, offsets in reader.offsets().items():
        assert first_arrivals_in_order(offsets), session_id
    by_offset = {m["offset"]: m for m in reader.messages if m["sessionId"] == first}
    for event in stored:
        message = by_offset[event.offset]
        assert (message["type"], message.get("seq"), message["ts"]) == (
            event.type,
            event.seq,
            event.ts,
        )
        assert message["eventId"] == f"{first}:{event.offset}"
        assert message["_key"] == first and message["assessmentId"] == "exam-1"
        assert message["state"]["lastOffset"] == event.offset  # the state after this event
    # The mirror's replayed state is the actor's own.
    assert final is not None
    last = by_offset[301]
    assert last["type"] == "user_disconnected" and last["state"]["connected"] is False
    for key in ("verificationScore", "trustLevel", "riskScore", "violationCount", "status"):
        assert last["state"][key] == getattr(final, key), key
    assert by_offset[300]["violations"][0]["type"] == "TAB_SWITCH"
    assert by_offset[299].get("violations", []) == []


async def test_a_broker_killed_mid_stream_loses_nothing_after_it(
    tmp_path: Path, broker: Broker
) -> None:
    """What the mirror had published when the broker died may die with this memory-only broker
    (a real cluster keeps it); everything after its cursor must arrive once the broker is back,
    in order, nothing missing, although candidates kept sending meanwhile."""
    async with running_server(tmp_path / "node", kafka=kafka(broker)) as server:
        mirror = server.services.mirror
        assert mirror is not None
        sessions = [await server.create_session() for _ in range(4)]
        ids = [s for s, _ in sessions]
        async with reading(broker) as before:
            async with anyio.create_task_group() as tg:
                for session_id, token in sessions:
                    tg.start_soon(stream, server, session_id, token, 1, 100)
            await settled(server, ids, 101)
            await eventually(lambda: before.has_all({s: 101 for s in ids}), timeout=30)
            async with anyio.create_task_group() as tg:
                for session_id, token in sessions:
                    tg.start_soon(stream, server, session_id, token, 101, 300)
                await eventually(lambda: mirror.cursor > 4 * 101 + 100, timeout=30)
                broker.kill()  # mid-stream: candidates keep sending, acks keep coming
            async with anyio.create_task_group() as tg:  # and more once it is surely gone
                for session_id, token in sessions:
                    tg.start_soon(stream, server, session_id, token, 301, 400)
            await eventually(lambda: not mirror.connected, timeout=30)
            cursor_at_kill = mirror.cursor
        # 100 + 200 + 100 events, a user_disconnected after each stream and a user_reconnected
        # before the second and the third
        await settled(server, ids, 405)  # all stored while the broker was down
        unpublished = await server.services.store.events_after_id(cursor_at_kill, 10_000)
        assert len(unpublished) > 0
        broker.start()  # it comes back empty
        async with reading(broker) as after:
            await eventually(lambda: mirror.connected and mirror.lag_events == 0, timeout=60)
            want = {(e.session_id, e.event.offset) for e in unpublished}
            await eventually(
                lambda: want <= {(m["sessionId"], m["offset"]) for m in after.messages},
                timeout=30,
            )
    for session_id in ids:
        offsets = after.offsets()[session_id]
        assert first_arrivals_in_order(offsets)
        assert set(offsets) == set(range(min(offsets), 406))  # contiguous to the end


async def test_the_server_starts_while_the_broker_is_down(tmp_path: Path) -> None:
    broker = Broker(free_port(), tmp_path / "broker.log")
    async with running_server(tmp_path / "node", kafka=kafka(broker)) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            for seq in range(1, 21):
                await candidate.event(seq)
            await candidate.acked(20)  # stored and acknowledged with no broker at all
        mirror = server.services.mirror
        assert mirror is not None and not mirror.connected
        async with server.http() as client:
            metrics = (await client.get("/metrics")).text
        assert "vigil_kafka_lag_events" in metrics and "vigil_kafka_connected 0" in metrics
        broker.start()
        try:
            async with reading(broker) as reader:
                await eventually(lambda: reader.has_all({session_id: 21}), timeout=60)
        finally:
            broker.kill()
    assert first_arrivals_in_order(reader.offsets()[session_id])


async def test_the_cursor_survives_a_restart(tmp_path: Path, broker: Broker) -> None:
    async with running_server(tmp_path / "node", kafka=kafka(broker)) as server:
        session_id, token = await server.create_session()
        await stream(server, session_id, token, 1, 50)
        mirror = server.services.mirror
        assert mirror is not None
        await eventually(lambda: mirror.lag_events == 0 and mirror.published_total == 51)
    async with running_server(tmp_path / "node", kafka=kafka(broker)) as server:
        mirror = server.services.mirror
        assert mirror is not None and mirror.cursor == 51  # read back, not published again
        await stream(server, session_id, token, 51, 60)
        # user_reconnected, 10 events, user_disconnected
        await eventually(lambda: mirror.lag_events == 0 and mirror.published_total == 12)


async def test_two_nodes_serve_one_admin(tmp_path: Path, broker: Broker) -> None:
    cluster = {"bootstrap_servers": broker.bootstrap, "cluster": True}
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    async with (
        running_server(
            tmp_path / "a", port_a, kafka=cluster, server={"node_id": "a", "public_url": url_a}
        ) as node_a,
        running_server(
            tmp_path / "b", port_b, kafka=cluster, server={"node_id": "b", "public_url": url_b}
        ) as node_b,
    ):
        on_a, token_a = await node_a.create_session(assessment_id="shared-exam", name="On A")
        on_b, _ = await node_b.create_session(assessment_id="shared-exam", name="On B")
        assert on_a.startswith("a-") and on_b.startswith("b-")  # the node is in the id
        async with node_a.candidate(on_a, token_a) as candidate:
            await candidate.event(1, "assessment_started")
            await candidate.acked(1)
            view = node_b.services.cluster
            assert view is not None
            await eventually(lambda: view.state(on_a) is not None, timeout=30)
            async with node_b.admin() as admin:
                snapshot = await admin.subscribe("assessment:shared-exam")
                names = {s["candidateName"] for s in snapshot["sessions"]}
                assert names == {"On A", "On B"}
                alerts = await admin.subscribe("alerts")
                assert alerts["type"] == "snapshot"
                single = await admin.subscribe(f"session:{on_a}")
                assert single["sessions"][0]["sessionId"] == on_a
                await candidate.event(2, "tab_switch_detected", ts=TS)
                await candidate.acked(2)
                seen: list[dict[str, Any]] = []
                wanted = {
                    ("event", "assessment:shared-exam", 2),
                    ("event", f"session:{on_a}", 2),
                    ("alert", None, 2),  # alerts carry no channel field
                }
                with anyio.fail_after(30):
                    while not wanted <= {
                        (m["type"], m.get("channel"), m.get("event", {}).get("offset"))
                        for m in seen
                    }:
                        seen.append(await admin.recv(timeout=30))
                await admin.send(
                    {"type": "intervene", "sessionId": on_a, "action": "warn", "message": "hi"}
                )
                done, _ = await admin.recv_until(lambda m: m["type"] in ("intervened", "error"))
                assert done["type"] == "intervened" and done["sessionId"] == on_a, done
        events = [m for m in seen if m["type"] == "event"]
        # The overview may also show offset 1 (a first event is notable: see summaries.py).
        second = {m["channel"] for m in events if m["event"]["offset"] == 2}
        assert second == {"assessment:shared-exam", f"session:{on_a}"}
        assert all(m["state"]["violationCount"] == 1 for m in events if m["event"]["offset"] == 2)
        alert = next(m for m in seen if m["type"] == "alert")
        assert alert["sessionId"] == on_a and alert["severity"] == "medium"


async def test_sigterm_publishes_what_is_stored_before_exiting(
    tmp_path: Path, broker: Broker
) -> None:
    process = ServerProcess(
        tmp_path / "node",
        free_port(),
        {"VIGIL_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "VIGIL_KAFKA_CLUSTER": "false"},
    )
    process.start()
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=process.url, headers=headers) as client:
            body = {"candidateEmail": "t@example.com", "candidateName": "T", "assessmentId": "x"}
            created = (await client.post("/candidate-sessions", json=body)).json()
        session_id, token = created["id"], created["candidateToken"]
        url = f"{process.ws_url}/ws/candidate/{session_id}?token={token}"
        async with connect(url) as ws:
            candidate = Peer(ws)
            for seq in range(1, 201):
                await candidate.event(seq)
            await candidate.acked(200)
            assert await anyio.to_thread.run_sync(process.terminate) == 0
    finally:
        process.stop()
    async with reading(broker) as reader:
        await eventually(lambda: reader.has_all({session_id: 200}), timeout=30)
