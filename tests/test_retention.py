"""Retention: finished sessions are erased, frames and all, once older than the period; sessions
still running are not; every purge is in the audit log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from app.storage.retention import purge_forever
from app.storage.schema import database_path
from tests.support import eventually, running_server

pytestmark = pytest.mark.anyio


async def test_finished_sessions_are_purged_after_the_period(tmp_path: Path) -> None:
    retention = {"completed_session_days": 1e-6, "check_interval_seconds": 0.2}  # ~0.09 s
    async with running_server(tmp_path, retention=retention) as server:
        finished, token = await server.create_session(name="Finished")
        running, _ = await server.create_session(name="Running")
        frames = server.services.frames
        assert frames is not None
        frames.keep(finished, 1, b"\xff\xd8 frame \xff\xd9", flagged=True)
        await eventually(lambda: 1 in frames.kept(finished))
        async with server.http(token=token) as own:
            assert (
                await own.post(f"/candidate-sessions/{finished}/submit", json={})
            ).status_code == 200

        def purges() -> list[tuple[str, str]]:
            with sqlite3.connect(database_path(server.settings.storage_dir)) as conn:
                return conn.execute(
                    "SELECT actor, session_id FROM audit WHERE action = 'retention purge'"
                ).fetchall()

        async def erased() -> bool:
            # The session reads as gone once its data key is (crypto-erasure comes first); its
            # frames go next, and the audit row last.
            gone = await server.services.store.session(finished) is None
            return gone and not (tmp_path / "frames" / finished).exists() and bool(purges())

        with anyio.fail_after(10):  # the job runs every 0.2 s
            while not await erased():
                await anyio.sleep(0.05)
        assert await server.services.store.session(running) is not None
        async with server.http() as admin:
            gone = await admin.get(f"/candidate-sessions/{finished}")
        assert gone.status_code == 404
        with sqlite3.connect(database_path(server.settings.storage_dir)) as conn:
            leftovers = conn.execute(
                "SELECT count(*) FROM event_log WHERE session_id = ?", (finished,)
            ).fetchone()
        assert purges() == [("server:retention", finished)]
        assert leftovers == (0,)


async def test_no_period_keeps_everything(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        assert server.settings.retention.completed_session_days == 0
        session_id, token = await server.create_session()
        async with server.http(token=token) as own:
            await own.post(f"/candidate-sessions/{session_id}/submit", json={})
        await purge_forever(server.services)  # returns at once: nothing is ever purged
        assert await server.services.store.session(session_id) is not None
