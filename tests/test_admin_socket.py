"""The admin socket, CONTRACT.md section 5: channels, snapshots, events with state, alerts,
and a slow admin that must not hold anyone up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import RunningServer, eventually, running_server

pytestmark = pytest.mark.anyio


async def test_session_channel_snapshot_then_each_event_with_state(server: RunningServer) -> None:
    session_id, token = await server.create_session(name="Grace Hopper")
    async with server.admin() as admin:
        snapshot = await admin.subscribe(f"session:{session_id}")
        assert snapshot["type"] == "snapshot" and snapshot["channel"] == f"session:{session_id}"
        [state] = snapshot["sessions"]
        for key in ("sessionId", "assessmentId", "candidateName", "status", "connected", "verificationScore",
                    "trustLevel", "riskScore", "riskLevel", "violationCount", "lastEventAt"):  # fmt: skip
            assert key in state
        assert state["candidateName"] == "Grace Hopper" and state["verificationScore"] == 100
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(1, "assessment_started")
            await candidate.event(2, "tab_switch_detected", questionId="q1")
            await candidate.acked(2)
            events = []
            while len(events) < 2:
                message = await admin.recv()
                if message["type"] == "event":
                    events.append(message)
        first, second = events
        assert first["channel"] == f"session:{session_id}" and first["sessionId"] == session_id
        assert first["event"] == {
            "type": "assessment_started",
            "seq": 1,
            "offset": 1,
            "ts": "2026-11-22T10:00:00.000Z",
        }
        assert second["event"]["questionId"] == "q1"
        assert second["state"]["verificationScore"] == 92 and second["state"]["violationCount"] == 1
        assert (
            second["state"]["connected"] is True
            and second["state"]["lastEventAt"] == "2026-11-22T10:00:00.000Z"
        )


async def test_assessment_channel_covers_every_session_of_it(server: RunningServer) -> None:
    ids = [await server.create_session("exam-a") for _ in range(3)]
    other_id, other_token = await server.create_session("exam-b")
    async with server.admin() as admin:
        snapshot = await admin.subscribe("assessment:exam-a")
        assert sorted(s["sessionId"] for s in snapshot["sessions"]) == sorted(i for i, _ in ids)
        for _seq, (session_id, token) in enumerate(ids, start=1):
            async with server.candidate(session_id, token) as candidate:
                await candidate.event(1, "assessment_started")
                await candidate.acked(1)
        async with server.candidate(other_id, other_token) as candidate:
            await candidate.event(1, "assessment_started")
            await candidate.acked(1)
        seen: set[str] = set()
        while len(seen) < 3:
            message = await admin.recv()
            assert message.get("sessionId") != other_id
            if message["type"] == "event" and message["event"]["type"] == "assessment_started":
                seen.add(message["sessionId"])


async def test_sessions_channel_covers_every_unfinished_session(tmp_path: Path) -> None:
    quick = {"finished_evict_seconds": 0.1, "sweep_interval_seconds": 0.1}
    async with running_server(tmp_path, sessions=quick) as server:
        await _every_unfinished_session(server)


async def _every_unfinished_session(server: RunningServer) -> None:
    running, token = await server.create_session(assessment_id="exam-a")
    other, _ = await server.create_session(assessment_id="exam-b")
    done, done_token = await server.create_session(assessment_id="exam-c")
    async with server.http(token=done_token) as own:
        assert (await own.post(f"/candidate-sessions/{done}/submit", json={})).status_code == 200
    # Out of memory once finished: only its stored row is left, and it is not listed.
    await eventually(lambda: server.services.registry.live_state(done) is None)
    async with server.admin() as admin:
        snapshot = await admin.subscribe("sessions")
        assert {s["sessionId"] for s in snapshot["sessions"]} == {running, other}
        async with server.candidate(running, token) as candidate:
            await candidate.event(1, "tab_switch_detected")
            message, _ = await admin.recv_until(
                lambda m: m["type"] == "event" and m["event"]["type"] == "tab_switch_detected"
            )
    assert message["channel"] == "sessions" and message["sessionId"] == running
    assert message["state"]["violationCount"] == 1
    assert message["state"]["lastEventType"] == "tab_switch_detected"


async def test_a_new_session_is_announced_on_the_sessions_channel(server: RunningServer) -> None:
    async with server.admin() as admin:
        await admin.subscribe("sessions")
        session_id, _ = await server.create_session(assessment_id="exam-new", name="New One")
        message, _ = await admin.recv_until(lambda m: m.get("sessionId") == session_id)
    assert message["type"] == "state" and message["channel"] == "sessions"
    assert message["state"]["candidateName"] == "New One"
    assert message["state"]["status"] == "IN_PROGRESS" and message["state"]["lastOffset"] == 0


async def test_alerts_channel_carries_violations_and_interventions(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.admin() as admin:
        assert (await admin.subscribe("alerts"))["type"] == "snapshot"
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(1, "inspect_element_opened")
            await candidate.acked(1)
            alert, _ = await admin.recv_until(lambda m: m["type"] == "alert")
            assert alert["sessionId"] == session_id and alert["severity"] == "high"
            assert (
                "DEVTOOLS_OPENED" in alert["message"]
                and alert["event"]["type"] == "inspect_element_opened"
            )
            await admin.send(
                {"type": "intervene", "sessionId": session_id, "action": "warn", "message": "stop"}
            )
            alert, _ = await admin.recv_until(lambda m: m["type"] == "alert")
            assert (
                alert["event"]["type"] == "intervention"
                and alert["event"]["data"]["action"] == "warn"
            )


async def test_connect_and_disconnect_reach_the_admin(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.admin() as admin:
        await admin.subscribe(f"session:{session_id}")
        async with server.candidate(session_id, token):
            state, _ = await admin.recv_until(lambda m: m["type"] == "state")
            assert state["state"]["connected"] is True
        event, _ = await admin.recv_until(lambda m: m["type"] == "event")
        assert (
            event["event"]["type"] == "user_disconnected" and event["state"]["connected"] is False
        )


async def test_bad_commands_get_errors_and_the_socket_stays_open(server: RunningServer) -> None:
    async with server.admin() as admin:
        await admin.ws.send("{")
        assert (await admin.recv())["code"] == "invalid_json"
        await admin.send({"type": "dance"})
        assert (await admin.recv())["code"] == "unknown_type"
        await admin.send({"type": "subscribe", "channel": "everything"})
        error = await admin.recv()
        assert error["code"] == "invalid_channel" and error["field"] == "channel"
        await admin.send({"type": "subscribe", "channel": "session:nope"})
        assert (await admin.recv())["code"] == "not_found"
        await admin.send({"type": "intervene", "sessionId": "nope", "action": "warn"})
        assert (await admin.recv())["code"] == "not_found"
        await admin.send({"type": "intervene", "sessionId": "nope", "action": "explode"})
        error = await admin.recv()
        assert error["code"] == "invalid_command" and error["field"] == "action"
        assert (await admin.subscribe("alerts"))["type"] == "snapshot"


async def test_admin_socket_needs_the_admin_token(server: RunningServer) -> None:
    _session_id, token = await server.create_session()
    async with server.admin(token="") as admin:
        assert await admin.closed_code() == 4401
    async with server.admin(token=token) as admin:
        assert await admin.closed_code() == 4403


async def test_a_slow_admin_is_evicted_and_never_slows_the_others(tmp_path: Path) -> None:
    async with running_server(tmp_path, admin={"outbox_size": 64}) as server:
        session_id, token = await server.create_session()
        async with server.admin() as slow, server.admin() as fast:
            await slow.subscribe(f"session:{session_id}")
            await fast.subscribe(f"session:{session_id}")
            # The slow admin stops reading: its TCP buffers fill, then its outbox overflows.
            slow.ws.transport.pause_reading()  # type: ignore[attr-defined]
            async with server.candidate(session_id, token) as candidate:
                # Enough bytes to fill the kernel's socket buffers on both ends of the slow admin.
                pad = {"pad": "x" * 40_000}
                total = 500
                for seq in range(1, total + 1):
                    await candidate.event(seq, data=pad)
                    if seq % 10 == 0:  # small commit batches: a fast admin's outbox never fills
                        await candidate.acked(seq, timeout=20)
                received = 0
                while received < total:
                    message = await fast.recv(timeout=20)
                    received += message["type"] == "event"
            assert server.services.fanout.evicted_total == 1
            slow.ws.transport.resume_reading()  # type: ignore[attr-defined]
            assert await slow.closed_code(timeout=20) == 4408
        async with server.admin() as back:  # it comes back to a fresh snapshot
            snapshot = await back.subscribe(f"session:{session_id}")
            assert snapshot["sessions"][0]["lastSeq"] == total
        await eventually(lambda: server.services.metrics.admin_connections == 0)
