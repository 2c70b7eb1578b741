"""Erasure (right to erasure, `DELETE /candidate-sessions/:id`) and retention: finished sessions
are erased, frames and all, once they are older than `[retention] completed_session_days`, by a
background job that writes each purge to the audit log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

import anyio

from actors.events import iso_ms
from app.settings import Settings
from app.storage.audit import AuditRow
from app.storage.frames import FrameStore
from app.storage.journal import SqliteJournal
from app.storage.screen_chunks import ScreenChunks
from app.storage.store import SqliteStore

log = logging.getLogger("vigil.retention")
_BATCH = 500  # sessions erased per round; the next round takes the rest


class LiveSessions(Protocol):
    async def forget(self, session_id: str) -> None: ...


class Erasing(Protocol):
    """What erasure needs: the server's `Services`, or `vigil purge`'s storage opened on its own
    (app/storage/standalone.py), where no session is live."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> SqliteStore: ...
    @property
    def journal(self) -> SqliteJournal: ...
    @property
    def registry(self) -> LiveSessions: ...
    @property
    def frames(self) -> FrameStore | None: ...
    @property
    def clips(self) -> FrameStore | None: ...
    @property
    def screen(self) -> ScreenChunks | None: ...


async def erase_session(services: Erasing, session_id: str) -> None:
    """The session and everything stored for it, gone from the files too: its actor stops for
    good, what it had accepted is flushed and erased with the rest, then its kept frames."""
    await services.registry.forget(session_id)
    await services.journal.flush()
    await services.journal.erase_session(session_id)
    if services.frames is not None:
        await services.frames.erase(session_id)
    if services.clips is not None:  # issue 24: audio episodes' clips
        await services.clips.erase(session_id)
    if services.screen is not None:  # issue 24: screen recordings
        await services.screen.erase(session_id)


async def purge_forever(services: Erasing) -> None:
    """Every `check_interval_seconds`, erase the sessions finished longer ago than the period."""
    settings = services.settings.retention
    if settings.completed_session_days <= 0:
        return  # kept until erased by hand
    while True:
        try:
            await purge_once(services)
        except Exception:  # a failed round is retried next round; never stop the server
            log.exception("retention: a purge round failed")
        await anyio.sleep(settings.check_interval_seconds)


async def purge_once(services: Erasing) -> list[str]:
    """Erase the sessions finished longer ago than the period; the ids erased."""
    days = services.settings.retention.completed_session_days
    cutoff = iso_ms(datetime.now(UTC) - timedelta(days=days))
    erased: list[str] = []
    for session_id in await services.store.finished_before(cutoff, _BATCH):
        await erase_session(services, session_id)
        await services.journal.audit(
            AuditRow(
                at=iso_ms(datetime.now(UTC)),
                actor="server:retention",
                action="retention purge",
                sessionId=session_id,
                detail={"finishedBefore": cutoff, "completedSessionDays": days},
            )
        )
        erased.append(session_id)
    if erased:
        log.info("retention: erased %d session(s) finished before %s", len(erased), cutoff)
    return erased
