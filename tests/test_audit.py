"""The audit log: every admin and reviewer read and write of session data, on disk before the
answer leaves, append-only, and a hash chain that shows any tampering."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.access.tokens import HASH_PREFIX, hash_token, token_id
from app.storage.schema import database_path
from tests.support import ADMIN_TOKEN, RunningServer, running_server

pytestmark = pytest.mark.anyio

REVIEWER = "reviewer-token-1"


def rows(server: RunningServer) -> list[tuple[str, str, str | None, int | None, str | None]]:
    """Read the table straight from the file: what is there is on disk."""
    with sqlite3.connect(database_path(server.settings.storage_dir)) as conn:
        return conn.execute(
            "SELECT actor, action, session_id, status, address FROM audit ORDER BY id"
        ).fetchall()


async def test_every_admin_and_reviewer_access_is_on_record(tmp_path: Path) -> None:
    auth = {"reviewer_token_hashes": [HASH_PREFIX + hash_token(REVIEWER)]}
    async with running_server(tmp_path, auth=auth) as server:
        session_id, token = await server.create_session()
        admin, reviewer = f"admin:{token_id(ADMIN_TOKEN)}", f"reviewer:{token_id(REVIEWER)}"
        path = f"/candidate-sessions/{session_id}"
        async with server.http() as client:
            assert (await client.get(path)).status_code == 200
            # Written before the answer left: the row is in the file already.
            assert rows(server)[-1] == (admin, f"GET {path}", session_id, 200, "127.0.0.1")
        async with server.http(token=REVIEWER) as client:
            await client.get(f"{path}/report", params={"format": "csv"})
            refused = await client.delete(path)
        assert refused.status_code == 403
        async with server.http(token=token) as own:
            await own.get(path)  # the candidate reading its own session: not audited
        async with server.admin() as socket:
            await socket.subscribe(f"session:{session_id}")
            await socket.send({"type": "intervene", "sessionId": session_id, "action": "warn",
                               "message": "eyes on the screen"})  # fmt: skip
            await socket.recv_until(lambda m: m["type"] == "intervened")
        async with server.http() as client:
            assert (await client.delete(path)).status_code == 204
            listed = (await client.get("/audit", params={"sessionId": session_id})).json()
        created = [r for r in rows(server) if r[1] == "POST /candidate-sessions"]
        assert len(created) == 1 and created[0][0] == admin
        assert [(r["actor"], r["action"], r["status"]) for r in listed] == [
            (admin, f"GET {path}", 200),
            (reviewer, f"GET {path}/report?format=csv", 200),
            (reviewer, f"DELETE {path}", 403),
            (admin, f"subscribe session:{session_id}", None),
            (admin, "intervene", None),
            (admin, f"DELETE {path}", 204),  # the erasure itself, kept after it
        ]
        assert listed[4]["detail"] == {"action": "warn", "message": "eyes on the screen"}
        assert all(r[0] != f"candidate:{token_id(token)}" for r in rows(server))


async def test_the_log_is_append_only_and_tampering_shows(server: RunningServer) -> None:
    session_id, _ = await server.create_session()
    async with server.http() as client:
        for _ in range(3):
            await client.get(f"/candidate-sessions/{session_id}")
        intact = (await client.get("/audit/verify")).json()
    assert intact["intact"] is True and intact["rows"] >= 4
    with sqlite3.connect(database_path(server.settings.storage_dir)) as conn:
        for statement in ("UPDATE audit SET actor = 'nobody'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        # Someone with the file drops the guard and rewrites history: the chain shows where.
        conn.execute("DROP TRIGGER audit_no_update")
        second = conn.execute("SELECT id FROM audit ORDER BY id LIMIT 1 OFFSET 1").fetchone()[0]
        conn.execute("UPDATE audit SET address = '10.9.9.9' WHERE id = ?", (second,))
    async with server.http() as client:
        broken = (await client.get("/audit/verify")).json()
    assert broken["intact"] is False and broken["brokenAt"] == second


async def test_reading_the_log_needs_the_admin_token(tmp_path: Path) -> None:
    auth = {"reviewer_token_hashes": [HASH_PREFIX + hash_token(REVIEWER)]}
    async with running_server(tmp_path, auth=auth) as server:
        async with server.http(token=REVIEWER) as client:
            assert (await client.get("/audit")).status_code == 403
        async with server.http() as client:
            bad = await client.get("/audit", params={"limit": "0"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "limit"
