"""Many nodes, one dashboard (issue 27): two or three real servers on one real Tansu broker,
with real WebSocket and HTTP clients. Each guarantee is checked through the sockets."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

from app.kafka.mirror import Partitions
from tests.kafka_support import Broker
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


def node_settings(broker: Broker, name: str, port: int, **kafka: Any) -> dict[str, Any]:
    return {
        "port": port,
        "server": {"node_id": name, "public_url": f"http://127.0.0.1:{port}"},
        "kafka": {
            "bootstrap_servers": broker.bootstrap,
            "cluster": True,
            "request_timeout_ms": 3000,
            "heartbeat_seconds": 0.2,
            "node_timeout_seconds": 1.0,
            **kafka,
        },
    }


@asynccontextmanager
async def nodes(
    tmp_path: Path, broker: Broker, *names: str, **kafka: Any
) -> AsyncIterator[list[RunningServer]]:
    async with AsyncExitStack() as stack:
        found = [
            await stack.enter_async_context(
                running_server(tmp_path / name, **node_settings(broker, name, free_port(), **kafka))
            )
            for name in names
        ]
        for server in found:  # every node has heard every other's heartbeat
            view = server.services.cluster
            assert view is not None
            others = {n for n in names if n != server.services.node_id}
            await eventually(
                lambda v=view, o=others: {s.nodeId for s in v.nodes.statuses()} >= o, timeout=30
            )
        yield found


async def test_a_session_created_on_a_is_subscribed_on_b_at_once(
    tmp_path: Path, broker: Broker
) -> None:
    # Tansu holds every fetch this long: b reads a's records a second after they were written,
    # so the subscription below comes before b has read of the session.
    async with nodes(tmp_path, broker, "a", "b", fetch_max_wait_ms=1000) as (node_a, node_b):
        async with node_b.admin() as admin:
            on_a, token = await node_a.create_session(assessment_id="exam", name="Fresh")
            # Subscribed the moment creation is answered, before b could have read any event.
            snapshot = await admin.subscribe(f"session:{on_a}")
            assert snapshot["type"] == "snapshot", snapshot
            assert [s["candidateName"] for s in snapshot["sessions"]] == ["Fresh"]
            async with node_a.candidate(on_a, token) as candidate:
                await candidate.event(1, "assessment_started")
                await candidate.acked(1)
                event, _ = await admin.recv_until(
                    lambda m: m["type"] == "event" and m["channel"] == f"session:{on_a}", 10
                )
                assert event["event"]["offset"] == 1 and event["sessionId"] == on_a
            for unknown in (f"a-{uuid.uuid4()}", f"zz-{uuid.uuid4()}", "nothing"):
                refused = await admin.subscribe(f"session:{unknown}")
                assert refused["type"] == "error" and refused["code"] == "not_found", refused


async def test_overviews_on_b_show_a_s_sessions_and_alerts(tmp_path: Path, broker: Broker) -> None:
    async with nodes(tmp_path, broker, "a", "b") as (node_a, node_b):
        async with node_b.admin() as admin:
            overview = await admin.subscribe("assessment:shared")
            assert overview["sessions"] == []
            on_a, token = await node_a.create_session(assessment_id="shared", name="On A")
            appeared, _ = await admin.recv_until(lambda m: m["type"] == "state", 10)
            assert appeared["state"]["sessionId"] == on_a  # a new session shows at once
            await admin.subscribe("alerts")
            async with node_a.candidate(on_a, token) as candidate:
                await candidate.event(1, "tab_switch_detected", ts=TS)
                await candidate.acked(1)
                seen: list[dict[str, Any]] = []
                with anyio.fail_after(10):
                    while not any(m["type"] == "alert" for m in seen) or not any(
                        m["type"] == "event" and m["channel"] == "assessment:shared" for m in seen
                    ):
                        seen.append(await admin.recv(10))
        event = next(m for m in seen if m["type"] == "event")
        assert event["event"]["offset"] == 1 and event["state"]["violationCount"] == 1
        alert = next(m for m in seen if m["type"] == "alert")
        assert alert["sessionId"] == on_a and alert["severity"] == "medium"


async def test_a_candidate_socket_on_the_wrong_node_is_sent_to_its_owner(
    tmp_path: Path, broker: Broker
) -> None:
    async with nodes(tmp_path, broker, "a", "b") as (node_a, node_b):
        on_a, token = await node_a.create_session()
        url = f"{node_b.ws_url}/ws/candidate/{on_a}?token={token}"
        async with connect(url) as ws:
            wrong = Peer(ws)
            moved = await wrong.recv()
            assert moved == {"type": "moved", "url": node_a.url}
            assert await wrong.closed_code() == 4307
        base = moved["url"].replace("http://", "ws://")
        async with connect(f"{base}/ws/candidate/{on_a}?token={token}") as ws:
            candidate = Peer(ws)
            await candidate.event(1)
            await candidate.acked(1)


async def test_a_session_request_on_the_wrong_node_is_answered_by_its_owner(
    tmp_path: Path, broker: Broker
) -> None:
    async with nodes(tmp_path, broker, "a", "b") as (node_a, node_b):
        on_a, token = await node_a.create_session(name="Asked Elsewhere")
        async with node_b.http() as client:
            answer = await client.get(f"/candidate-sessions/{on_a}")
            assert answer.status_code == 200, answer.text
            assert answer.json()["candidateName"] == "Asked Elsewhere"
            violation = {"type": "TAB_SWITCH", "severity": "LOW", "timestamp": TS}
            posted = await client.post(f"/candidate-sessions/{on_a}/violations", json=violation)
            assert posted.status_code in (200, 201), posted.text
        state = node_a.services.registry.live_state(on_a)
        assert state is not None and state.violationCount == 1  # stored by the owner
        mine = {"Authorization": f"Bearer {token}"}  # the candidate's own token, held by a only
        async with httpx.AsyncClient(base_url=node_b.url, headers=mine) as client:
            record = await client.get(f"/candidate-sessions/{on_a}/record")
            assert record.status_code == 200, record.text


async def test_a_node_that_dies_shows_as_unreachable_on_the_others(
    tmp_path: Path, broker: Broker
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
            body = {"candidateEmail": "d@example.com", "candidateName": "D", "assessmentId": "x"}
            on_a = (await client.post("/candidate-sessions", json=body)).json()["id"]
        settings = node_settings(broker, "b", free_port())
        async with running_server(tmp_path / "b", **settings) as node_b:
            view = node_b.services.cluster
            assert view is not None
            await eventually(lambda: view.state(on_a) is not None, timeout=10)  # b has read a's
            async with node_b.admin() as admin:
                snapshot = await admin.subscribe("assessment:x")
                assert [s["sessionId"] for s in snapshot["sessions"]] == [on_a]
                up, _ = await admin.recv_until(lambda m: m["type"] == "node", 10)
                assert up["nodeId"] == "a" and up["status"] == "up"
                await anyio.to_thread.run_sync(process.kill)
                down, _ = await admin.recv_until(lambda m: m["type"] == "node", 10)
                assert down["nodeId"] == "a" and down["status"] == "unreachable"
                again = await admin.subscribe(f"session:{on_a}")  # its last known state stays
                assert again["sessions"][0]["sessionId"] == on_a
                await admin.send({"type": "intervene", "sessionId": on_a, "action": "warn"})
                refused, _ = await admin.recv_until(lambda m: m["type"] == "error", 10)
                assert refused["code"] == "node_unreachable" and "'a'" in refused["message"]
            async with node_b.http() as client:
                metrics = (await client.get("/metrics")).text
            assert "vigil_cluster_nodes_unreachable 1" in metrics
    finally:
        process.stop()


async def collect(peer: Peer, into: list[dict[str, Any]], done: Any, timeout: float = 30) -> None:
    """Every message the socket gets until `done(into)` holds (nothing skipped)."""
    with anyio.fail_after(timeout):
        while not done(into):
            into.append(await peer.recv(timeout))


def offsets_on(seen: list[dict[str, Any]], channel: str, session_id: str) -> list[int]:
    return [
        m["event"]["offset"]
        for m in seen
        if m["type"] == "event" and m["channel"] == channel and m["sessionId"] == session_id
    ]


def alerts_of(seen: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    return sorted(
        (m["sessionId"], m["event"]["offset"], m["severity"], m["message"])
        for m in seen
        if m["type"] == "alert"
    )


async def test_an_assessment_on_b_gets_every_stored_event_of_a_s_sessions(
    tmp_path: Path, broker: Broker
) -> None:
    """CONTRACT.md section 5: after the snapshot, an event per stored event of every session of
    the assessment, in offset order, once; also for a session created after the subscription,
    and for events that raise no alert. Alerts arrive once each, although b also reads the
    events of the same sessions."""
    async with nodes(tmp_path, broker, "a", "b") as (node_a, node_b):
        early, early_token = await node_a.create_session(assessment_id="full", name="Early")
        async with node_a.candidate(early, early_token) as candidate:
            for seq in range(1, 6):
                await candidate.event(seq, "heartbeat")
            await candidate.acked(5)
        view = node_b.services.cluster
        assert view is not None
        await eventually(lambda: (s := view.state(early)) is not None and s.lastOffset >= 5, 10)
        async with node_a.admin() as truth, node_b.admin() as admin:
            await truth.subscribe("alerts")
            for channel in ("alerts", f"session:{early}", "assessment:full"):
                await admin.send({"type": "subscribe", "channel": channel})
            seen: list[dict[str, Any]] = []
            await collect(admin, seen, lambda s: sum(m["type"] == "snapshot" for m in s) == 3)
            snapshot = next(m for m in seen if m.get("channel") == "assessment:full")
            counted = {s["sessionId"]: s["lastOffset"] for s in snapshot["sessions"]}
            late, late_token = await node_a.create_session(assessment_id="full", name="Late")
            sessions = {early: early_token, late: late_token}
            for session_id, token in sessions.items():
                start, last_seq = (6, 45) if session_id == early else (1, 40)
                async with node_a.candidate(session_id, token) as candidate:
                    for seq in range(start, last_seq + 1):
                        kind = "tab_switch_detected" if seq % 7 == 0 else "heartbeat"
                        await candidate.event(seq, kind, questionId=f"q{seq}")
                    await candidate.acked(last_seq, timeout=30)
            final = {}
            for session_id in sessions:  # its socket closed: user_disconnected is the last
                state = await eventually(
                    lambda i=session_id: (
                        (s := node_a.services.registry.live_state(i)) is not None
                        and not s.connected
                        and s
                    ),
                    10,
                )
                final[session_id] = state.lastOffset
            channel = "assessment:full"
            await collect(
                admin, seen, lambda s: all(final[i] in offsets_on(s, channel, i) for i in sessions)
            )
            expected: list[dict[str, Any]] = []  # 6 tab switches on early, 5 on late, and more?
            await collect(truth, expected, lambda s: len(alerts_of(s)) >= 11)
            with anyio.move_on_after(1.0):
                await collect(truth, expected, lambda s: False)
            want = alerts_of(expected)
            await collect(admin, seen, lambda s: len(alerts_of(s)) >= len(want))
            with anyio.move_on_after(1.5):  # anything doubled would come now
                await collect(admin, seen, lambda s: False)
        assert offsets_on(seen, channel, early) == list(range(counted[early] + 1, final[early] + 1))
        assert offsets_on(seen, channel, late) == list(range(1, final[late] + 1))  # from its first
        session = f"session:{early}"
        assert offsets_on(seen, session, early) == offsets_on(seen, channel, early)
        assert alerts_of(seen) == want  # each once, none lost
        events = [m for m in seen if m["type"] == "event" and m["channel"] == channel]
        assert all(m["state"]["lastOffset"] == m["event"]["offset"] for m in events)


async def test_b_decodes_only_the_events_of_what_its_admins_watch(
    tmp_path: Path, broker: Broker
) -> None:
    """The issue's cost target: with nobody on b watching (overviews fed by summaries only), every
    partition of the events topic stays paused; watching an assessment decodes its sessions'
    events and drops another session's in the same partition by key."""
    async with nodes(tmp_path, broker, "a", "b") as (node_a, node_b):
        view = node_b.services.cluster
        assert view is not None
        partition_of = Partitions(node_b.services.settings.kafka.partitions, 100).of
        watched, watched_token = await node_a.create_session(assessment_id="seen")
        while True:  # an unwatched session in the same partition
            other, other_token = await node_a.create_session(assessment_id="unseen")
            if partition_of(other.encode()) == partition_of(watched.encode()):
                break
        async with node_b.admin() as admin:
            for channel in ("alerts", "sessions"):
                await admin.subscribe(channel)
            await stream_on(node_a, other, other_token, 1, 30)
            await eventually(lambda: (s := view.state(other)) is not None and s.lastOffset == 31)
            assert (view.received_total, view.passed_total) == (0, 0)  # nothing even fetched
            await admin.subscribe("assessment:seen")
            await stream_on(node_a, watched, watched_token, 1, 20)
            await stream_on(node_a, other, other_token, 31, 60)
            await eventually(lambda: view.passed_total >= 30 and view.state(watched) is not None)
            await eventually(lambda: view.received_total - view.skipped_total == 21, 10)
        assert view.received_total - view.skipped_total == 21  # the watched session's only


async def stream_on(
    node: RunningServer, session_id: str, token: str, first: int, last: int
) -> None:
    async with node.candidate(session_id, token) as candidate:
        for seq in range(first, last + 1):
            await candidate.event(seq, "tab_switch_detected" if seq % 10 == 0 else "heartbeat")
        await candidate.acked(last, timeout=30)


async def test_an_admin_on_b_intervenes_in_a_session_on_a(tmp_path: Path, broker: Broker) -> None:
    """The dashboard's warn / pause / resume / terminate work on every node: b sends the command
    to a, which stores it, tells the candidate and answers as for its own admin."""
    async with nodes(tmp_path, broker, "a", "b") as (node_a, node_b):
        on_a, token = await node_a.create_session(name="Watched From B")
        async with node_a.candidate(on_a, token) as candidate, node_b.admin() as admin:
            await candidate.event(1, "assessment_started")
            await candidate.acked(1)
            await admin.send(
                {"type": "intervene", "sessionId": on_a, "action": "warn", "message": "Eyes up"}
            )
            done, _ = await admin.recv_until(lambda m: m["type"] in ("intervened", "error"), 10)
            assert done == {"type": "intervened", "sessionId": on_a, "action": "warn", "offset": 2}
            warning, _ = await candidate.recv_until(lambda m: m["type"] == "warning", 10)
            assert warning["message"] == "Eyes up"
            await admin.send({"type": "intervene", "sessionId": on_a, "action": "resume"})
            refused, _ = await admin.recv_until(lambda m: m["type"] in ("intervened", "error"), 10)
            assert refused["code"] == "invalid_intervention" and refused["field"] == "action"
            await admin.send({"type": "intervene", "sessionId": on_a, "action": "pause"})
            paused, _ = await admin.recv_until(lambda m: m["type"] in ("intervened", "error"), 10)
            assert paused["type"] == "intervened" and paused["offset"] == 3, paused
            await candidate.recv_until(lambda m: m["type"] == "pause", 10)
        state = node_a.services.registry.live_state(on_a)
        assert state is not None and state.status == "PAUSED"  # done by the owner
        events = await node_a.services.store.events(on_a)
        assert [e.data["by"] for e in events if e.type == "intervention"] == ["admin", "admin"]
