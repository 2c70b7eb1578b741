"""Issue 23 items 5 and 8 through the real server and storage: a session's verdict (contract
9.3), every decision kept as a `session_reviewed` event, the review queue from storage, and the
candidate's own record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.access.tokens import HASH_PREFIX, hash_token
from tests.support import RunningServer, running_server

pytestmark = pytest.mark.anyio
REVIEWER = "a-reviewer-token"


async def _review(server: RunningServer, session_id: str, body: Any, token: str | None = None):
    async with server.http(token) if token else server.http() as client:
        return await client.post(f"/candidate-sessions/{session_id}/review", json=body)


async def test_every_decision_is_kept_and_the_last_is_the_review(tmp_path: Path) -> None:
    auth = {"reviewer_token_hashes": [HASH_PREFIX + hash_token(REVIEWER)]}
    async with running_server(tmp_path, auth=auth) as server:
        session_id, _ = await server.create_session()
        first = await _review(server, session_id, {"decision": "needs_review", "reason": "odd"})
        assert first.status_code == 200, first.text
        assert first.json()["review"]["status"] == "needs_review"
        assert first.json()["recommendation"] == "accept"  # trust HIGH, no violations
        second = await _review(
            server, session_id, {"decision": "verify", "reason": "checked the video"}, REVIEWER
        )
        assert second.status_code == 200, second.text
        review = second.json()["review"]
        assert review["status"] == "verified" and review["reason"] == "checked the video"
        assert review["reviewer"].startswith("reviewer:") and review["at"].endswith("Z")
        assert [d["status"] for d in second.json()["history"]] == ["needs_review", "verified"]
        async with server.http() as client:
            detail = (await client.get(f"/candidate-sessions/{session_id}")).json()
            events = (await client.get(f"/candidate-sessions/{session_id}/events")).json()
        assert detail["review"]["status"] == "verified"
        assert len(detail["reviewHistory"]) == 2 and detail["recommendation"] == "accept"
        stored = [e for e in _items(events) if e["type"] == "session_reviewed"]
        assert [e["data"]["status"] for e in stored] == ["needs_review", "verified"]
        assert set(stored[0]["data"]) == {"decision", "status", "reviewer", "reason", "at"}


def _items(events: Any) -> list[dict[str, Any]]:
    return events["events"] if isinstance(events, dict) else events


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "approve", "reason": "x"}, "decision"),
        ({"decision": "verify"}, "reason"),
        ({"decision": "verify", "reason": ""}, "reason"),
        ({"decision": "verify", "reason": "x" * 2001}, "reason"),
        ({"reason": "x"}, "decision"),
    ],
)
async def test_a_bad_decision_is_422_naming_the_field_and_changes_nothing(
    server: RunningServer, body: dict[str, Any], field: str
) -> None:
    session_id, candidate = await server.create_session()
    response = await _review(server, session_id, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    async with server.http() as client:
        detail = (await client.get(f"/candidate-sessions/{session_id}")).json()
    assert detail["review"] is None and detail["reviewHistory"] == []
    # A candidate may not judge themselves.
    assert (
        await _review(server, session_id, {"decision": "verify", "reason": "me"}, candidate)
    ).status_code == 403


async def test_the_queue_comes_from_storage_riskiest_first_and_searchable(
    server: RunningServer,
) -> None:
    calm, _ = await server.create_session("exam-a", "Ada Lovelace")
    risky, token = await server.create_session("exam-b", "Grace Hopper")
    async with server.candidate(risky, token) as peer:
        for seq in range(1, 6):
            await peer.event(seq, "tab_switch_detected")
        await peer.acked(5)
    async with server.http() as client:
        await client.put(f"/candidate-sessions/{risky}", json={"status": "COMPLETED"})
        await client.post(
            f"/candidate-sessions/{calm}/review", json={"decision": "reject", "reason": "r"}
        )
        queue = (await client.get("/session-reviews")).json()
        assert [item["session"]["id"] for item in queue["items"]] == [risky, calm]
        assert queue["items"][0]["riskScore"] > queue["items"][1]["riskScore"]
        assert queue["items"][1]["review"]["status"] == "rejected"
        assert queue["nextOffset"] is None

        async def ids(**params: Any) -> list[str]:
            answer = await client.get("/session-reviews", params=params)
            assert answer.status_code == 200, answer.text
            return [item["session"]["id"] for item in answer.json()["items"]]

        assert await ids(candidate="grace") == [risky]
        assert await ids(candidate="EXAMPLE.COM") == [risky, calm]
        assert await ids(assessmentId="exam-a") == [calm]
        assert await ids(verdict="rejected") == [calm]
        assert await ids(verdict="unreviewed") == [risky]
        assert await ids(status="COMPLETED") == [risky]
        assert await ids(finished="true") == [risky]
        assert await ids(sort="created") == [calm, risky]
        page = (await client.get("/session-reviews", params={"limit": 1})).json()
        assert page["nextOffset"] == 1 and len(page["items"]) == 1
        assert await ids(limit=1, offset=1) == [calm]
        bad = await client.get("/session-reviews", params={"verdict": "maybe"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "verdict"
        bad = await client.get("/session-reviews", params={"limit": 0})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "limit"


async def test_the_queue_outlives_a_restart(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        session_id, _ = await server.create_session()
        await _review(server, session_id, {"decision": "needs_review", "reason": "later"})
    async with running_server(tmp_path) as server:
        async with server.http() as client:
            queue = await client.get("/session-reviews", params={"verdict": "needs_review"})
        assert [i["session"]["id"] for i in queue.json()["items"]] == [session_id]


async def test_a_candidate_reads_their_own_record_and_an_admin_downloads_it(
    server: RunningServer,
) -> None:
    session_id, token = await server.create_session()
    other_id, other_token = await server.create_session(name="Someone Else")
    async with server.candidate(session_id, token) as peer:
        await peer.event(1, "tab_switch_detected")
        await peer.acked(1)
    async with server.http(token) as client:
        before = (await client.get(f"/candidate-sessions/{session_id}/record")).json()
        assert before["verdict"]["review"] is None
        assert [v["type"] for v in before["violations"]] == ["TAB_SWITCH"]
        assert "tab_switch_detected" in [e["type"] for e in before["events"]]
        refused = await client.get(f"/candidate-sessions/{other_id}/record")
        assert refused.status_code in (401, 403)
        not_theirs = await client.get(f"/candidate-sessions/{session_id}/record?download=true")
        assert not_theirs.status_code == 403
    await _review(server, session_id, {"decision": "verify", "reason": "fine"})
    async with server.http(token) as client:
        after = (await client.get(f"/candidate-sessions/{session_id}/record")).json()
    assert after["verdict"]["review"]["status"] == "verified"
    async with server.http() as client:
        download = await client.get(f"/candidate-sessions/{session_id}/record?download=true")
        bad = await client.get(f"/candidate-sessions/{session_id}/record?download=maybe")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.json()["session"]["id"] == session_id
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "download"
    del other_token


async def test_a_candidate_reads_the_verdict_after_their_token_expired(tmp_path: Path) -> None:
    async with running_server(tmp_path, auth={"candidate_token_grace_seconds": 0}) as server:
        session_id, token = await server.create_session()
        async with server.http() as admin:
            submitted = await admin.post(
                f"/candidate-sessions/{session_id}/submit", json={"answers": []}
            )
            assert submitted.status_code == 200
            verdict = {"decision": "verify", "reason": "Checked the recording"}
            reviewed = await admin.post(f"/candidate-sessions/{session_id}/review", json=verdict)
            assert reviewed.status_code == 200, reviewed.text
    # After a restart the finished session is not in memory: its token has expired.
    async with running_server(tmp_path, auth={"candidate_token_grace_seconds": 0}) as server:
        async with server.http(token) as own:
            detail = await own.get(f"/candidate-sessions/{session_id}")
            record = await own.get(f"/candidate-sessions/{session_id}/record")
        # The expired token opens nothing else, but the candidate's own record stays theirs.
        assert detail.status_code == 401 and detail.json()["error"]["code"] == "token_expired"
        assert record.status_code == 200, record.text
        assert "verify" in record.text
