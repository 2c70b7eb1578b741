"""Erasure (right to erasure, `DELETE /candidate-sessions/:id`) and retention: finished sessions
are erased, frames and all, once they are older than `[retention] completed_session_days`, by a
background job that writes each purge to the audit log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import anyio

from actors.events import iso_ms
from app.audit_log import AuditRow
from app.services import Services

log = logging.getLogger("vigil.retention")
_BATCH = 500  # sessions erased per round; the next round takes the rest


async def erase_session(services: Services, session_id: str) -> None:
    """The session and everything stored for it, gone from the files too: its actor stops for
    good, what it had accepted is flushed and erased with the rest, then its kept frames."""
    await services.registry.forget(session_id)
    await services.journal.flush()
    await services.journal.erase_session(session_id)
    if services.frames is not None:
        await services.frames.erase(session_id)


async def purge_forever(services: Services) -> None:
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


async def purge_once(services: Services) -> int:
    days = services.settings.retention.completed_session_days
    cutoff = iso_ms(datetime.now(UTC) - timedelta(days=days))
    erased = 0
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
        erased += 1
    if erased:
        log.info("retention: erased %d session(s) finished before %s", erased, cutoff)
    return erased
