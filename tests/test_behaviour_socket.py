"""Behaviour evidence through the real server (issue 28): `behaviour_window` events on the
candidate socket, the findings stored at the submission, their points only when the factor is
enabled, a reviewer's dismissal, impossible windows refused, collaboration found between two
sessions of one assessment, and VPN/proxy from the connection's forwarding headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import connect

from tests.support import Peer, RunningServer, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

BOT_ON = {"behaviour": {"bot_like": {"enabled": True}}}


def window(**parts: Any) -> dict[str, Any]:
    return {"windowMs": 10_000, **parts}


def scripted_window() -> dict[str, Any]:
    """Thirty keys dispatched by a script: untrusted, each exactly 120 ms after the last."""
    intervals = [0] * 14
    intervals[4] = 29  # [125, 150) ms
    return window(
        keys={"keydowns": 30, "intervals": intervals, "burstSumMs": 29 * 130,
              "burstSumSqMs": 29 * 130 * 130},
        text={"charsTyped": 30, "answerLength": 30},
        untrusted={"keyboard": 30, "input": 30},
    )  # fmt: skip


async def define(server: RunningServer, body: dict[str, Any]) -> None:
    async with server.http() as client:
        response = await client.post("/assessments", json=body)
    assert response.status_code == 201, response.text


async def detail(server: RunningServer, session_id: str) -> dict[str, Any]:
    async with server.http() as client:
        response = await client.get(f"/candidate-sessions/{session_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def flagged(
    server: RunningServer, session_id: str, check: str | None = None
) -> list[dict[str, Any]]:
    """The stored `behaviour_flagged` events, once there is one (of `check`, if given)."""
    with anyio.fail_after(10):
        while True:
            await server.services.journal.flush()
            found = [
                e.data or {}
                for e in await server.services.store.events(session_id)
                if e.type == "behaviour_flagged"
            ]
            if any(check in (None, f["check"]) for f in found):
                return found
            await anyio.sleep(0.05)


async def sit(candidate: Peer, windows: list[dict[str, Any]], answers: dict[str, Any]) -> int:
    """Start, send the windows (on q1) and the answers, submit; return the last seq."""
    seq = 1
    await candidate.event(seq, "assessment_started")
    for data in windows:
        seq += 1
        await candidate.event(seq, "behaviour_window", questionId="q1", data=data)
    for question, response in answers.items():
        seq += 1
        await candidate.event(
            seq,
            "answer_submitted",
            questionId=question,
            data={"response": response, "timeSpent": 30},
        )
    seq += 1
    await candidate.event(seq, "assessment_submitted")
    await candidate.acked(seq)
    return seq


async def test_a_script_is_flagged_costs_its_points_and_a_reviewer_can_dismiss_it(
    tmp_path: Path,
) -> None:
    async with running_server(tmp_path, **BOT_ON) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            await sit(candidate, [scripted_window() for _ in range(3)], {"q1": "x"})
        (finding,) = await flagged(server, session_id)
        assert finding["factor"] == "Bot-like behavior" and finding["check"] == "BOT_LIKE"
        assert finding["points"] == -30 and finding["counted"] is True
        assert "untrusted" in finding["rule"] and len(finding["offsets"]) == 3
        record = await detail(server, session_id)
        assert record["state"]["verificationScore"] == 70
        (violation,) = [v for v in record["violations"] if v["type"] == "BOT_LIKE"]
        assert violation["details"]["offsets"] == finding["offsets"]
        async with server.http() as client:
            review = await client.post(
                f"/candidate-sessions/{session_id}/violations/{violation['id']}/review",
                json={"decision": "dismiss", "reason": "an on-screen keyboard, seen on camera"},
            )
        assert review.status_code == 200, review.text
        assert review.json()["reviewed"]["verificationScore"] == 100
        assert review.json()["automatic"]["verificationScore"] == 70
        async with server.http() as client:
            report = (await client.get(f"/candidate-sessions/{session_id}/report")).json()
        (entry,) = [
            e for e in report["ledger"]["verification"] if e["factor"] == "Bot-like behavior"
        ]
        assert entry["points"] == -30 and entry["counted"] is False
        assert entry["offsets"][:-1] == finding["offsets"]  # the windows, then the finding
        assert "[behaviour.bot_like] penalty" in entry["rule"]
        (question,) = report["behaviour"]["questions"]
        assert question == {
            "questionId": "q1", "windows": 3, "keydowns": 90, "typed": 90, "pasted": 0,
            "other": 0, "pastes": 0, "untrusted": 180, "answerLength": 30,
        }  # fmt: skip
        async with server.http() as client:
            page = await client.get(f"/candidate-sessions/{session_id}/report?format=html")
        assert "aria-label='characters typed and pasted per question'" in page.text
        assert "90 typed · 0 pasted · 180 synthetic" in page.text


async def test_a_factor_that_is_off_keeps_its_evidence_and_costs_nothing(tmp_path: Path) -> None:
    async with running_server(tmp_path, behaviour={"bot_like": {"enabled": False}}) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            await sit(candidate, [scripted_window() for _ in range(3)], {"q1": "x"})
        (finding,) = await flagged(server, session_id)
        assert finding["counted"] is False and finding["check"] == "BOT_LIKE"
        record = await detail(server, session_id)
        assert record["state"]["verificationScore"] == 100
        assert any(v["type"] == "BOT_LIKE" for v in record["violations"])


async def test_an_honest_window_flags_nothing(tmp_path: Path) -> None:
    async with running_server(tmp_path, **BOT_ON) as server:
        session_id, token = await server.create_session()
        intervals = [0, 1, 3, 6, 7, 8, 5, 3, 2, 1, 0, 0, 0, 1]
        honest = window(
            keys={"keydowns": 38, "intervals": intervals, "burstSumMs": 6487,
                  "burstSumSqMs": 1414329},
            text={"charsTyped": 35, "answerLength": 412},
            pointer={"moves": 120, "distancePx": 1430.5, "displacementPx": 1201.0, "strokes": 4,
                     "pauses": 3, "movingMs": 2100, "maxSpeedPxPerS": 1900.0},
        )  # fmt: skip
        async with server.candidate(session_id, token) as candidate:
            seq = await sit(candidate, [honest] * 5, {"q1": "x"})
        await server.services.journal.flush()
        stored = await server.services.store.events(session_id)
        assert [e.type for e in stored].count("behaviour_window") == 5
        assert len(stored) == seq  # every event stored, and no finding among them
        assert (await detail(server, session_id))["state"]["verificationScore"] == 100


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        (window(keys={"keydowns": -1}), "keys.keydowns", ">= 0"),
        (
            window(keys={"keydowns": 2, "intervals": [5] + [0] * 13}),
            "keys.intervals",
            "at most keydowns=2",
        ),
        (window(keys={"keydowns": 5000}), "keys.keydowns", "100 a second"),
        (window(text={"charsPasted": 40}), "text.pastes", "at least 1"),
        (window(keys={"intervals": [0] * 13}), "intervals", "length"),
    ],
)
async def test_impossible_windows_are_refused_naming_the_field_and_cost_nothing(
    server: RunningServer, data: dict[str, Any], field: str, says: str
) -> None:
    session_id, token = await server.create_session()
    async with server.candidate(session_id, token) as candidate:
        await candidate.event(1, "behaviour_window", questionId="q1", data=data)
        error, _ = await candidate.recv_until(lambda m: m["type"] == "error")
        assert error["code"] == "invalid_event" and error["seq"] == 1
        assert field in error["message"] and says in error["message"], error
        await candidate.event(1, "heartbeat")  # the refused seq is free: nothing was stored
        await candidate.acked(1)
    await server.services.journal.flush()
    stored = [e.type for e in await server.services.store.events(session_id)]
    assert stored == ["heartbeat", "user_disconnected"]
    assert (await detail(server, session_id))["state"]["verificationScore"] == 100


async def test_a_flood_of_windows_is_rate_limited(tmp_path: Path) -> None:
    limits = {"limits": {"candidate_events_per_second": 5.0, "candidate_events_burst": 5}}
    async with running_server(tmp_path, **limits) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            for seq in range(1, 31):
                await candidate.event(seq, "behaviour_window", questionId="q1", data=window())
            error, _ = await candidate.recv_until(lambda m: m["type"] == "error")
            assert error["code"] == "rate_limited"
        await server.services.journal.flush()
        stored = await server.services.store.events(session_id)
        assert 0 < len(stored) < 30


WRONG = [str(100 + n) for n in range(8)]


async def test_two_candidates_sharing_rare_wrong_answers_are_linked_when_the_second_submits(
    server: RunningServer,
) -> None:
    questions = [{"id": f"q{n}", "correctAnswer": "42", "difficulty": "medium"} for n in range(8)]
    await define(server, {"id": "pair", "questions": questions})
    first_id, first_token = await server.create_session("pair", "First")
    second_id, second_token = await server.create_session("pair", "Second")
    alone_id, alone_token = await server.create_session("pair", "Alone")
    shared = {f"q{n}": WRONG[n] for n in range(8)}
    async with server.candidate(first_id, first_token) as candidate:
        await sit(candidate, [], shared)
    async with server.candidate(alone_id, alone_token) as candidate:
        await sit(candidate, [], {f"q{n}": "42" if n % 2 else "7" for n in range(8)})
    async with server.candidate(second_id, second_token) as candidate:
        await sit(candidate, [], shared)
    mine = only_collaboration(await flagged(server, second_id, "COLLABORATION"))
    theirs = only_collaboration(await flagged(server, first_id, "COLLABORATION"))
    assert mine["check"] == "COLLABORATION" and mine["otherSessionId"] == first_id
    assert theirs["otherSessionId"] == second_id
    assert mine["measures"]["identicalWrong"] == 8
    assert sorted(mine["questionIds"]) == sorted(shared)
    await server.services.journal.flush()
    async with server.http() as client:
        page = (await client.get(f"/candidate-sessions/{second_id}/report?format=html")).text
        report = (await client.get(f"/candidate-sessions/{second_id}/report")).json()
    assert "<h2>Behaviour evidence</h2>" in page
    assert f"href='/candidate-sessions/{first_id}/report?format=html'" in page
    (shown,) = [f for f in report["behaviour"]["findings"] if f["check"] == "COLLABORATION"]
    assert shown["otherSessionId"] == first_id
    alone = await server.services.store.events(alone_id)
    assert not [e for e in alone if (e.data or {}).get("check") == "COLLABORATION"]


def only_collaboration(found: list[dict[str, Any]]) -> dict[str, Any]:
    (collaboration,) = [f for f in found if f["check"] == "COLLABORATION"]
    return collaboration


async def test_a_listed_address_behind_another_proxy_is_a_vpn(tmp_path: Path) -> None:
    listed = tmp_path / "vpn.txt"
    listed.write_text("# a provider's exits\n203.0.113.0/24\n")
    sections = {"behaviour": {"vpn_cidr_files": [str(listed)], "vpn_proxy": {"enabled": True}}}
    async with running_server(tmp_path / "storage", **sections) as server:
        session_id, token = await server.create_session()
        url = f"{server.ws_url}/ws/candidate/{session_id}?token={token}"
        headers = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
        async with connect(url, additional_headers=headers) as ws:
            candidate = Peer(ws)
            await candidate.event(1, "device_info", data={"timezone": "Europe/Berlin"})
            await candidate.event(2, "assessment_submitted")
            await candidate.acked(2)
        (finding,) = await flagged(server, session_id)
        assert finding["check"] == "VPN_PROXY" and finding["points"] == -10
        assert finding["measures"]["listed"] == 1 and finding["measures"]["forwarded"] == 1
        stored = await server.services.store.events(session_id)
        (device,) = [e for e in stored if e.type == "device_info"]
        assert device.data is not None and device.data["forwardedFor"] == [
            "203.0.113.9",
            "198.51.100.7",
        ]
        assert finding["offsets"] == [device.offset]
        assert (await detail(server, session_id))["state"]["verificationScore"] == 90


async def test_an_accommodation_switches_a_behaviour_check_off(tmp_path: Path) -> None:
    async with running_server(tmp_path, **BOT_ON) as server:
        body = {
            "candidateEmail": "ada@example.com",
            "candidateName": "Ada Lovelace",
            "assessmentId": "exam-1",
            # A candidate who uses an on-screen keyboard: its events are synthetic.
            "accommodations": {"disabledChecks": ["BOT_LIKE"]},
        }
        async with server.http() as client:
            created = (await client.post("/candidate-sessions", json=body)).json()
        session_id, token = created["id"], created["candidateToken"]
        async with server.candidate(session_id, token) as candidate:
            await sit(candidate, [scripted_window() for _ in range(3)], {"q1": "x"})
        (finding,) = await flagged(server, session_id, "BOT_LIKE")
        assert finding["counted"] is True  # the factor is on...
        record = await detail(server, session_id)
        (violation,) = [v for v in record["violations"] if v["type"] == "BOT_LIKE"]
        assert violation["accommodated"] is True  # ...but not for this candidate
        assert record["state"]["verificationScore"] == 100
