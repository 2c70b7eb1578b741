"""Reads that never hold a snapshot open across the event loop.

SQLite gives every statement of one connection the same read transaction while any of them is
active. With aiosqlite, `execute` steps a statement to its first row in the connection's thread
and `fetchone`/`close` come back later, after the loop has run other coroutines: their queries
on the same connection then read that statement's snapshot. Under load the loop can take
seconds to come back, and every read in between missed what was committed since: a session
created and answered 201 was "not found" for the candidate socket that came right after it (4401
or 4403, 1-5 s, reproduced at 2,500 events/s). So every read here runs and finishes its statement
in one call to the thread (`execute_fetchall` steps it to the end, which resets it), and a long
scan that must stream (`scan`) gets a connection of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiosqlite


class Rows:
    """A finished query's rows, read the way an aiosqlite cursor is."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._rows = list(rows)

    async def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> list[Any]:
        return self._rows


class OneHopReads:
    """`execute(sql, args)` as `async with`, the statement done before the block starts."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        open_scan: Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]],
    ) -> None:
        self._conn = conn
        self._open_scan = open_scan

    @asynccontextmanager
    async def execute(self, sql: str, args: Sequence[Any] = ()) -> AsyncIterator[Rows]:
        yield Rows(await self._conn.execute_fetchall(sql, args))

    @asynccontextmanager
    async def scan(self, sql: str, args: Sequence[Any] = ()) -> AsyncIterator[AsyncIterator[Any]]:
        """Rows streamed from a connection of their own (a review queue, the audit chain): its
        snapshot, held while the caller iterates, is nobody else's."""
        async with self._open_scan() as conn, conn.execute(sql, args) as cursor:
            yield cursor.__aiter__()

    async def close(self) -> None:
        await self._conn.close()
