"""Copying the WAL back into the database: beside the writer, by the writer between two
commits, and all of it (TRUNCATE) after an erasure and at close."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Final

import anyio

from app.storage.schema import open_checkpointer

log = logging.getLogger("vigil.journal")

# The background checkpointer copies again at once while more than this many WAL pages (4 KiB
# each) are left, at most _CATCH_UP_ROUNDS times per interval; the writer copies the rest.
_WAL_TAIL_PAGES: Final = 256
_CATCH_UP_ROUNDS: Final = 8


def checkpoint(conn: sqlite3.Connection | None, mode: str) -> bool:
    """Run a checkpoint; True if it could not finish (busy)."""
    busy, _pages, _copied = checkpoint_counts(conn, mode)
    return busy


def checkpoint_counts(conn: sqlite3.Connection | None, mode: str) -> tuple[bool, int, int]:
    """Run a checkpoint: (busy, pages in the WAL, pages of it now copied to the database)."""
    assert conn is not None, "the journal is not open"
    busy, pages, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return bool(busy), int(pages), int(copied)


async def truncate_wal(conn: sqlite3.Connection | None, limiter: anyio.CapacityLimiter) -> None:
    """Copy every page back into the database and empty the WAL, so an erased session's old
    page images do not survive there. Retries while a reader still holds an old snapshot."""
    for attempt in range(50):
        busy = await anyio.to_thread.run_sync(checkpoint, conn, "TRUNCATE", limiter=limiter)
        if not busy:
            return
        await anyio.sleep(0.01 * (attempt + 1))
    log.error("journal: could not truncate the WAL after an erasure; a reader keeps it busy")


class Checkpointer:
    """Copy the WAL back into the database now and then, beside the writer, never in a commit.

    SQLite starts the WAL over only when a write transaction begins with every page of it
    copied back. Under a steady stream of commits a checkpointer beside the writer never
    gets there: the writer adds pages while it copies, and the WAL grew by 15 MB/s without
    end (RESULTS.md 2026-11-23 04:10). So this copies, again at once, until fewer than
    _WAL_TAIL_PAGES are left, and then has the writer copy those few itself between two
    commits (about a millisecond, `copy_tail`), once the WAL holds `restart_pages`; its next
    transaction then starts the WAL over."""

    def __init__(self, path: Path, interval: float, restart_pages: int) -> None:
        self._path = path
        # Often: each checkpoint syncs the WAL, and a sync with a second's worth of pages to
        # write stalled commits (and acks) for 30-40 ms once a second (RESULTS.md 2026-11-23 04:10).
        self._interval = interval
        self._restart_pages = restart_pages
        # Set once the checkpointer has nearly caught up with a WAL worth starting over.
        self._tail_due = False

    async def run_forever(self) -> None:
        conn = await anyio.to_thread.run_sync(open_checkpointer, self._path)
        try:
            while True:
                await anyio.sleep(self._interval)
                try:
                    for _ in range(_CATCH_UP_ROUNDS):
                        _busy, pages, copied = await anyio.to_thread.run_sync(
                            checkpoint_counts, conn, "PASSIVE", abandon_on_cancel=False
                        )
                        if pages - copied < _WAL_TAIL_PAGES:
                            self._tail_due = pages >= self._restart_pages
                            break
                except sqlite3.Error as exc:
                    log.warning(
                        "journal: checkpoint failed (%s); the WAL grows until one succeeds", exc
                    )
        finally:
            conn.close()

    async def copy_tail(
        self, conn: sqlite3.Connection | None, limiter: anyio.CapacityLimiter
    ) -> None:
        """The writer, between two commits: copy the last few pages if the checkpointer asked."""
        if self._tail_due:
            self._tail_due = False
            await anyio.to_thread.run_sync(checkpoint_counts, conn, "PASSIVE", limiter=limiter)
