"""The candidate socket, CONTRACT.md section 4, against a real server and real clients."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support import ADMIN_TOKEN, RunningServer, eventually, running_server

pytestmark = pytest.mark.anyio


def stored(server: RunningServer, session_id: str) -> list[tuple[int, int | None, str]]:
    with sqlite3.connect(server.settings.storage_dir / "vigil.db") as db:
        return db.execute(
            "SELECT event_offset, seq, type FROM event_log WHERE session_id = ? ORDER BY event_offset",
            (session_id,),
        ).fetchall()


async def test_every_ack_follows_the_commit(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for seq in range(1, 51):
            await candidate.event(seq, "question_viewed", questionId=f"q{seq % 5}")
            if seq % 10 == 0:
                await candidate.acked(seq)
                # An ack means durable: the events are in the database at that moment.
                assert [row[1] for row in stored(server, session_id)] == list(range(1, seq + 1))
    rows = stored(server, session_id)
    assert [row[0] for row in rows[:50]] == list(range(1, 51))


async def test_duplicates_are_acked_not_stored_again_across_reconnects(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        for seq in (1, 2, 3):
            await candidate.event(seq)
        await candidate.acked(3)
    async with server.candidate(session_id, token) as candidate:
        first = await candidate.recv()
        assert first == {"type": "ack", "seq": 3}  # a reconnecting client learns where it stands
        await candidate.event(2)
        assert await candidate.recv() == {"type": "ack", "seq": 3}
        await candidate.event(4, "tab_switch_detected")
        await candidate.acked(4)
    seqs = [row[1] for row in stored(server, session_id) if row[1] is not None]
    assert seqs == [1, 2, 3, 4]


async def test_a_gap_is_refused_and_not_stored(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1)
        await candidate.acked(1)
        await candidate.event(3)
        error, _ = await candidate.recv_until(lambda m: m["type"] == "error")
        assert error["code"] == "seq_gap" and error["expected"] == 2
        await candidate.event(2)
        await candidate.acked(2)
    rows = await eventually(
        lambda: len(stored(server, session_id)) == 3 and stored(server, session_id)
    )
    assert [(seq, kind) for _, seq, kind in rows] == [
        (1, "heartbeat"),
        (2, "heartbeat"),
        (None, "user_disconnected"),
    ]


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        ("not json", "invalid_json", None),
        ('{"type": "teleport", "seq": 1, "ts": "2026-11-22T10:00:00Z"}', "unknown_type", "type"),
        ('{"seq": 1, "ts": "2026-11-22T10:00:00Z"}', "unknown_type", "type"),
        (
            '{"type": "heartbeat", "seq": "one", "ts": "2026-11-22T10:00:00Z"}',
            "invalid_event",
            "seq",
        ),
        ('{"type": "heartbeat", "seq": 1, "ts": "yesterday"}', "invalid_event", "ts"),
        ('{"type": "heartbeat", "seq": 1, "ts": "2026-11-22T10:00:00"}', "invalid_event", "ts"),
        (
            '{"type": "focus_lost", "seq": 1, "ts": "2026-11-22T10:00:00Z", "data": {"durationMs": -5}}',
            "invalid_event",
            "data.durationMs",
        ),
        (
            '{"type": "answer_submitted", "seq": 1, "ts": "2026-11-22T10:00:00Z", "data": {"response": 1}}',
            "invalid_event",
            "questionId",
        ),
        ("[1, 2, 3]", "invalid_event", None),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(
    server: RunningServer, frame: str, code: str, field: str | None
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.ws.send(frame)
        error = await candidate.recv()
        assert error["type"] == "error" and error["code"] == code, error
        assert error["message"]
        if field is not None:
            assert error.get("field") == field
        await candidate.event(1)  # still open, nothing was stored for the bad frame
        await candidate.acked(1)
    assert [row[1] for row in stored(server, session_id)][:1] == [1]


async def test_a_bad_frame_names_its_seq(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.send(
            {"type": "focus_lost", "seq": 7, "ts": "2026-11-22T10:00:00Z", "data": {}}
        )
        error = await candidate.recv()
        assert error["code"] == "invalid_event" and error["seq"] == 7


async def test_oversized_frames_are_refused(tmp_path: Path) -> None:
    async with running_server(
        tmp_path, candidate={"max_event_bytes": 1024, "max_frame_bytes": 2048}
    ) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(1, data={"pad": "x" * 2000})
            assert (await candidate.recv())["code"] == "too_large"
            # The limit is in bytes: 400 four-byte characters are 1,600 bytes on the wire.
            await candidate.ws.send(
                json.dumps({"type": "heartbeat", "seq": 1, "d": "😀" * 400}, ensure_ascii=False)
            )
            refused = await candidate.recv()
            assert refused["code"] == "too_large"
            assert int(refused["message"].split()[2]) > 1600  # "event is N bytes; ..."
            await candidate.ws.send(b"\xff\xd8" + b"\0" * 3000)
            assert (await candidate.recv())["code"] == "too_large"
            await candidate.ws.send(
                b"\xff\xd8" + b"\0" * 1000
            )  # a frame within the limit: no error
            await candidate.event(1)
            assert await candidate.recv() == {"type": "ack", "seq": 1}


async def test_a_new_connection_replaces_the_old_one_with_4409(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as first:
        await first.event(1)
        await first.acked(1)
        async with server.candidate(session_id, token) as second:
            assert await first.closed_code() == 4409
            await second.event(2)
            await second.acked(2)
    rows = await eventually(
        lambda: len(stored(server, session_id)) >= 3 and stored(server, session_id)
    )
    assert [row[2] for row in rows] == [
        "heartbeat",
        "heartbeat",
        "user_disconnected",
    ]  # takeover: no disconnect


async def test_a_drop_before_submission_records_user_disconnected(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "assessment_started")
        await candidate.acked(1)
    rows = await eventually(
        lambda: len(stored(server, session_id)) == 2 and stored(server, session_id)
    )
    assert [row[2] for row in rows] == ["assessment_started", "user_disconnected"]


async def test_no_disconnect_event_after_submission(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "assessment_started")
        await candidate.event(2, "assessment_submitted")
        await candidate.acked(2)
    async with server.admin() as admin:
        snapshot = await admin.subscribe(f"session:{session_id}")
        state = snapshot["sessions"][0]
        assert state["status"] == "COMPLETED" and state["endTime"] == "2026-11-22T10:00:00.000Z"
    await server.services.journal.flush()
    assert [row[2] for row in stored(server, session_id)] == [
        "assessment_started",
        "assessment_submitted",
    ]


@pytest.mark.parametrize(
    ("token_kind", "code"),
    [("missing", 4401), ("garbage", 4401), ("other-session", 4403), ("admin", None)],
)
async def test_candidate_socket_auth(
    server: RunningServer, token_kind: str, code: int | None
) -> None:
    session_id, _token = await server.create_session()
    _, other_token = await server.create_session()
    token_for = {
        "missing": "",
        "garbage": "vct_nope",
        "other-session": other_token,
        "admin": ADMIN_TOKEN,
    }
    async with server.candidate(session_id, token_for[token_kind]) as candidate:
        if code is None:
            await candidate.event(1)
            await candidate.acked(1)
        else:
            assert await candidate.closed_code() == code


async def test_unknown_session_closes_with_4404(server: RunningServer) -> None:
    async with server.candidate("no-such-session", ADMIN_TOKEN) as candidate:
        assert await candidate.closed_code() == 4404


async def test_interventions_reach_the_candidate_and_are_stored(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate, server.admin() as admin:
        await candidate.event(1, "assessment_started")
        await candidate.acked(1)
        for action, message in [
            ("warn", "Eyes on your own screen"),
            ("pause", "Hold on"),
            ("resume", ""),
            ("terminate", "Caught"),
        ]:
            await admin.send(
                {"type": "intervene", "sessionId": session_id, "action": action, "message": message}
            )
            reply, _ = await admin.recv_until(lambda m: m["type"] in ("intervened", "error"))
            assert reply["type"] == "intervened", reply
            pushed = await candidate.recv()
            expected = {
                "warn": "warning",
                "pause": "pause",
                "resume": "resume",
                "terminate": "terminate",
            }[action]
            assert pushed["type"] == expected
            if action == "warn":
                assert pushed["message"] == message and pushed["reason"]
                assert pushed["warningsLeft"] == 2  # of [alerts] max_warnings = 3
            if action == "terminate":
                assert pushed["reason"] == message
        await admin.send({"type": "intervene", "sessionId": session_id, "action": "resume"})
        error, _ = await admin.recv_until(lambda m: m["type"] == "error")
        assert error["code"] == "invalid_intervention"
    rows = await eventually(
        lambda: len(stored(server, session_id)) == 6 and stored(server, session_id)
    )
    assert [row[2] for row in rows[1:]] == ["intervention"] * 4 + ["user_disconnected"]
    async with server.http() as client:
        body = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert body["status"] == "TERMINATED" and body["endTime"] is not None


async def test_a_reconnect_to_a_paused_session_is_told_so(server: RunningServer) -> None:
    session_id, token = await server.create_session()
    async with server.admin() as admin:
        await admin.send(
            {"type": "intervene", "sessionId": session_id, "action": "pause", "message": "wait"}
        )
        await admin.recv_until(lambda m: m["type"] == "intervened")
    async with server.candidate(session_id, token) as candidate:
        assert (await candidate.recv())["type"] == "pause"


async def test_a_session_that_keeps_crashing_closes_its_socket_with_4500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors import session as session_module

    def broken_fold(*args: object) -> object:
        raise RuntimeError("injected fault")

    async with running_server(tmp_path, sessions={"max_restarts": 1}) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(1)
            await candidate.acked(1)
            monkeypatch.setattr(session_module, "fold", broken_fold)
            for _attempt in range(3):  # seq 2 is never stored, so each try is seq 2 again
                await candidate.event(2)
            assert await candidate.closed_code() == 4500
        async with server.candidate(session_id, token) as again:
            assert await again.closed_code() == 4500  # refused until the server restarts
        assert [row[1] for row in stored(server, session_id)] == [1]
