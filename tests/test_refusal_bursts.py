"""A burst of refused frames (issue 21, items 5 and 11): the errors answering them never count as
"not reading its socket" (4408), a slow reader is still disconnected, and every refusal, seq
gaps included, is counted in `vigil_events_rejected_total`."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from app.sockets.candidate_writer import CLOSE_SLOW, MAX_PENDING_ERRORS, CandidateSocketLink
from app.telemetry.metrics import Metrics
from tests.support import TS, RunningServer, running_server

pytestmark = pytest.mark.anyio


class Unsent:
    """A socket whose writer is never run: what is queued stays queued."""

    client = None

    async def send(self, message: Any) -> None:
        raise AssertionError("nothing runs the writer here")


def test_a_burst_of_refusals_is_cut_short_and_counted_not_evicted() -> None:
    metrics = Metrics()
    link = CandidateSocketLink(Unsent(), 8, metrics)  # type: ignore[arg-type]
    for _ in range(200):
        link.refuse(b'{"type":"error","code":"invalid_event"}')
    assert not link.closing
    assert metrics.events_rejected == 200
    assert metrics.error_replies_dropped == 200 - MAX_PENDING_ERRORS


def test_a_reader_that_lets_control_messages_pile_up_is_still_evicted() -> None:
    link = CandidateSocketLink(Unsent(), 8, Metrics())  # type: ignore[arg-type]
    for _ in range(9):
        link.push(b'{"type":"warning"}')
    assert link.closing and link._close is not None and link._close[0] == CLOSE_SLOW


async def test_a_burst_of_invalid_frames_keeps_a_reading_client_connected(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for seq in range(1, 301):  # no read in between: the replies pile up server-side
            await candidate.ws.send(json.dumps({"type": "heartbeat", "seq": seq, "ts": "no"}))
        await candidate.event(1, "heartbeat")
        _, skipped = await candidate.recv_until(lambda m: m.get("type") == "ack", timeout=20)
        assert skipped and all(m["code"] == "invalid_event" for m in skipped)
        await candidate.event(2, "heartbeat")  # still open
        await candidate.acked(2)
    assert server.services.metrics.events_rejected == 300


async def test_a_backlog_past_the_rate_limit_keeps_the_client_connected(tmp_path: Any) -> None:
    limits = {"candidate_events_per_second": 1.0, "candidate_events_burst": 20}
    async with running_server(tmp_path, limits=limits) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            for seq in range(1, 201):  # an SDK replaying an offline backlog
                await candidate.event(seq)
            await candidate.acked(20, timeout=20)
            with anyio.move_on_after(1):
                while True:  # drain what is left: errors (rate_limited) and the last acks
                    await candidate.recv(timeout=1)
            assert candidate.ws.close_code is None
            await candidate.ws.ping()
        stored = await server.services.store.events(session_id)
        assert [e.seq for e in stored if e.origin == "candidate"] == list(range(1, 21))


async def test_seq_gaps_count_as_rejected_events(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.send({"type": "heartbeat", "seq": 5, "ts": TS})
        error = await candidate.recv()
        assert error["code"] == "seq_gap" and error["expected"] == 1
    async with server.http() as client:
        metrics = (await client.get("/metrics")).text
    assert "vigil_events_rejected_total 1" in metrics.splitlines()


async def test_a_too_large_event_names_its_seq_and_a_frame_past_1_mib_closes_1009(
    server: RunningServer,
) -> None:
    """Issue 21, item 10: the SDK can only skip a refused event whose seq it is told."""
    session_id, token = await server.create_session()
    big = server.settings.candidate.max_event_bytes + 10
    async with server.candidate(session_id, token) as candidate:
        await candidate.send({"type": "heartbeat", "seq": 1, "ts": TS, "data": {"x": "y" * big}})
        error = await candidate.recv()
        assert error["code"] == "too_large" and error["seq"] == 1, error
        await candidate.ws.send(
            json.dumps({"type": "heartbeat", "seq": 1, "ts": TS, "data": {"x": "y" * (1 << 20)}})
        )
        assert await candidate.closed_code() == 1009
    async with server.candidate(session_id, token) as again:  # the session is unharmed
        await again.event(1)
        await again.acked(1)
