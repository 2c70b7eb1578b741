"""Roles: admin, reviewer and candidate tokens, each let in exactly where its endpoint declares;
tokens in the config as hashes; candidate tokens that expire with their session."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.access.tokens import HASH_PREFIX, hash_token
from app.commands.cli import main
from app.http.endpoints import Endpoint
from app.server import ENDPOINTS as SERVER_ENDPOINTS
from app.settings import ConfigError, load_settings
from tests.support import ADMIN_TOKEN, eventually, running_server

pytestmark = pytest.mark.anyio

REVIEWER = "a-reviewer-token"
SECOND_ADMIN = "another-admin-token"
ENDPOINTS: list[Endpoint[Any]] = SERVER_ENDPOINTS
LETS_IN = {
    "none": {"admin", "reviewer", "candidate"},
    "admin": {"admin"},
    "reviewer": {"admin", "reviewer"},
    "candidate": {"admin", "candidate"},
    "reader": {"admin", "reviewer", "candidate"},
    "own_record": {"admin", "reviewer", "candidate"},
}


def hashed(token: str) -> str:
    return HASH_PREFIX + hash_token(token)


def roles_server(tmp_path: Path, **auth: Any) -> Any:
    return running_server(
        tmp_path,
        auth={
            "admin_token_hashes": [hashed(SECOND_ADMIN)],
            "reviewer_token_hashes": [hashed(REVIEWER)],
            **auth,
        },
    )


async def test_each_role_gets_in_exactly_where_its_endpoint_says(tmp_path: Path) -> None:
    async with roles_server(tmp_path) as server:
        session_id, candidate = await server.create_session()
        tokens = {"admin": SECOND_ADMIN, "reviewer": REVIEWER, "candidate": candidate}
        ids = {"session_id": session_id, "violation_id": f"{session_id}:1:0",
               "assessment_id": "exam-1", "frame": "1.jpg", "clip": "1.wav", "n": "0"}  # fmt: skip
        checked = 0
        for endpoint in ENDPOINTS:
            if endpoint.method == "DELETE":
                continue  # checked below: it would erase the session the others use
            for role, token in tokens.items():
                async with server.http(token=token) as client:
                    response = await client.request(
                        endpoint.method, endpoint.path.format(**ids), json={}
                    )
                allowed = role in LETS_IN[endpoint.auth]
                where = f"{role} on {endpoint.method} {endpoint.path} ({endpoint.auth})"
                if allowed:
                    assert response.status_code not in (401, 403), (where, response.text)
                else:
                    assert response.status_code == 403, (where, response.text)
                    assert "may not do this" in response.json()["error"]["message"]
                checked += 1
        assert checked >= 3 * 20
        for token in (REVIEWER, candidate):
            async with server.http(token=token) as client:
                refused = await client.delete(f"/candidate-sessions/{session_id}")
            assert refused.status_code == 403
        async with server.http(token=SECOND_ADMIN) as client:
            assert (await client.delete(f"/candidate-sessions/{session_id}")).status_code == 204


async def test_a_hashed_admin_token_in_the_config(tmp_path: Path) -> None:
    async with running_server(tmp_path, auth={"admin_token": hashed("plain-secret")}) as server:
        async with server.http(token="plain-secret") as admin:
            assert (await admin.get("/candidate-sessions")).status_code == 200
        async with server.http(token=hashed("plain-secret")) as holder_of_the_hash:
            assert (await holder_of_the_hash.get("/candidate-sessions")).status_code == 401


async def test_a_reviewer_watches_but_does_not_intervene(tmp_path: Path) -> None:
    async with roles_server(tmp_path) as server:
        session_id, _ = await server.create_session()
        async with server.admin(token=REVIEWER) as reviewer:
            snapshot = await reviewer.subscribe(f"session:{session_id}")
            assert snapshot["type"] == "snapshot"
            await reviewer.send({"type": "intervene", "sessionId": session_id, "action": "pause"})
            refused, _ = await reviewer.recv_until(lambda m: m["type"] == "error")
        assert refused["code"] == "forbidden"
        async with server.http() as admin:
            state = (await admin.get(f"/candidate-sessions/{session_id}")).json()["state"]
        assert state["status"] == "IN_PROGRESS"
        url = f"{server.ws_url}/ws/candidate/{session_id}?token={REVIEWER}"
        assert await closed_with(url) == 4403  # a reviewer is no candidate


async def test_a_candidate_token_expires_after_its_session(tmp_path: Path) -> None:
    quick = {"finished_evict_seconds": 0.1, "sweep_interval_seconds": 0.1}
    auth = {"candidate_token_grace_seconds": 0}
    async with running_server(tmp_path, sessions=quick, auth=auth) as server:
        session_id, token = await server.create_session()
        path = f"/candidate-sessions/{session_id}"
        async with server.http(token=token) as own:
            assert (await own.post(f"{path}/submit", json={})).status_code == 200
            # Still in memory, just finished: the candidate reads back the submission.
            assert (await own.get(path)).status_code == 200
            await eventually(lambda: server.services.registry.live_state(session_id) is None)
            expired = await own.get(path)
        assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
        url = f"{server.ws_url}/ws/candidate/{session_id}?token={token}"
        assert await closed_with(url) == 4401
        async with server.http(token=ADMIN_TOKEN) as admin:
            assert (await admin.get(path)).status_code == 200  # the data is all there


async def closed_with(url: str) -> int:
    async with connect(url) as ws:
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
    assert ws.close_code is not None
    return ws.close_code


def test_hash_token_prints_the_config_form(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))
    assert main(["hash-token"]) == 0
    assert capsys.readouterr().out.strip() == hashed("s3cret")


def test_a_badly_hashed_token_in_the_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="reviewer_token_hashes"):
        load_settings(environ={}, overrides={"auth": {"reviewer_token_hashes": ["md5:abc"]}})
