"""Reads of the store never hold a snapshot across the event loop (app/storage/reads.py): a
session answered 201 is found by the very next request, whatever other read is in progress.

Before: SQLite shares one read transaction among all active statements of a connection, and the
store's statements stayed active between aiosqlite's thread hops. A candidate socket opened right
after its session's 201 was refused 4401/4403 for 1-5 s under load (7-16 of 300 at 2,500
events/s), and for as long as a review queue was being read."""

from __future__ import annotations

import pytest

from tests.support import RunningServer

pytestmark = pytest.mark.anyio


async def test_a_session_is_found_while_a_long_read_is_in_progress(server: RunningServer) -> None:
    for n in range(80):  # enough that the scan stops mid-way (aiosqlite reads in chunks)
        await server.create_session(name=f"Candidate {n}")
    store = server.services.store
    queue = store.review_queue()
    try:
        await anext(queue)  # a scan begun and not finished: its statement is still active
        session_id, token = await server.create_session(name="Barbara Liskov")
        async with server.candidate(session_id, token) as candidate:  # 4401 before
            await candidate.event(1, "heartbeat")
            await candidate.acked(1)
    finally:
        await queue.aclose()


async def test_a_read_whose_caller_has_not_come_back_hides_nothing(server: RunningServer) -> None:
    for name in ("Ada Lovelace", "Grace Hopper"):
        await server.create_session(name=name)
    # A coroutine that ran a query and that the busy loop has not resumed yet, as a slow reader
    # of the store is under load.
    async with server.services.store._conn.execute("SELECT id FROM sessions") as rows:
        session_id, token = await server.create_session(name="Barbara Liskov")
        async with server.candidate(session_id, token) as candidate:  # 4401 before
            await candidate.event(1, "heartbeat")
            await candidate.acked(1)
        assert len(await rows.fetchall()) == 2  # what it read is as of before the new session
