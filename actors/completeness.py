"""How complete a session's record is: how long the candidate was connected against the session's
length, the offline gaps, and what share of the webcam frames was analysed. A report that says
"no violations" means little if the candidate was offline half the time; this says so.

Derived from the stored events, as the server saw them:
- a connection starts with the candidate's first event (its own clock: the first thing a
  candidate does on connecting), or with a `user_reconnected` (the server's clock);
- it ends with a `user_disconnected` (the server's clock);
- the session runs from its creation to its submission or termination, or to `now`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from actors.camera_watch import CAMERA_OFF, CAMERA_OFF_ENDED
from actors.events import (
    CAMERA_UNUSABLE,
    USER_DISCONNECTED,
    USER_RECONNECTED,
    StoredEvent,
)
from actors.scoring import FRAME_ANALYZED
from actors.vision_episodes import VISION_EPISODE_ENDED

# vision: data {count, received}: frames received and skipped since a session's last report, for a
# session that had none analysed for a while (the counts otherwise ride on `frame_analyzed`).
FRAMES_SKIPPED: Final = "frames_skipped"


class OfflineGap(msgspec.Struct, frozen=True, kw_only=True):
    start: str
    end: str | None  # None: still offline when the session ended (or now)
    seconds: float
    fromOffset: int  # the `user_disconnected`
    toOffset: int | None  # the `user_reconnected`


class RecordCompleteness(msgspec.Struct, frozen=True, kw_only=True):
    sessionStart: str
    measuredUntil: str  # the session's end, or the time of the report while it runs
    sessionSeconds: float
    firstConnectedAt: str | None
    connectedSeconds: float
    connectedShare: float | None  # connectedSeconds / sessionSeconds
    offlineGaps: list[OfflineGap]
    offlineSeconds: float
    eventsStored: int
    framesReceived: int
    framesAnalyzed: int  # one `frame_analyzed` each, reused verdicts included
    framesReused: int  # near-identical to the camera's previous frame: its verdict reused
    framesSkipped: int  # received, never analysed: the vision queue was full
    cameraUnusableSeconds: float
    # Connected with the camera required and no frame (actors/camera_watch.py): raised episodes.
    cameraDarkSeconds: float = 0.0


def measure(
    events: list[StoredEvent], session_start: str, session_end: str | None, now: str
) -> RecordCompleteness:
    until = session_end or now
    first_connected: str | None = None
    gaps: list[OfflineGap] = []
    open_gap: StoredEvent | None = None
    analyzed = skipped = received = reused = 0
    unusable_ms = open_unusable_ms = 0.0
    for event in events:
        if event.type == USER_DISCONNECTED and open_gap is None:
            open_gap = event
        elif open_gap is not None and (
            event.type == USER_RECONNECTED or event.origin == "candidate"
        ):
            # A candidate event with no `user_reconnected` before it: a log from before the
            # server recorded reconnections.
            gaps.append(_gap(open_gap, event.ts, event.offset))
            open_gap = None
        if first_connected is None and event.origin == "candidate":
            first_connected = event.ts
        data = event.data or {}
        if event.type == FRAME_ANALYZED:
            analyzed += 1
            received += int(data.get("received", 1))
            skipped += int(data.get("skipped", 0))
            reused += bool(data.get("reused"))
        elif event.type == FRAMES_SKIPPED:
            received += int(data.get("received", 0))
            skipped += int(data.get("count", 0))
        elif event.type == CAMERA_UNUSABLE:  # raised: as long as it was then
            open_unusable_ms = float((data.get("episode") or {}).get("durationMs") or 0)
        elif event.type == VISION_EPISODE_ENDED and data.get("kind") == "unusable":
            unusable_ms += float((data.get("episode") or {}).get("durationMs") or 0)
            open_unusable_ms = 0.0
    if open_gap is not None:
        gaps.append(_gap(open_gap, None, None, until))
    dark = camera_dark_seconds(events, until)
    unusable_ms += open_unusable_ms
    session_seconds = _seconds(session_start, until)
    offline = sum(gap.seconds for gap in gaps)
    connected = 0.0
    if first_connected is not None:
        connected = max(0.0, _seconds(max(first_connected, session_start), until) - offline)
    return RecordCompleteness(
        sessionStart=session_start,
        measuredUntil=until,
        sessionSeconds=session_seconds,
        firstConnectedAt=first_connected,
        connectedSeconds=round(connected, 3),
        connectedShare=round(connected / session_seconds, 4) if session_seconds > 0 else None,
        offlineGaps=gaps,
        offlineSeconds=round(offline, 3),
        eventsStored=len(events),
        framesReceived=received,
        framesAnalyzed=analyzed,
        framesReused=reused,
        framesSkipped=skipped,
        cameraUnusableSeconds=round(unusable_ms / 1000, 3),
        cameraDarkSeconds=dark,
    )


def camera_dark_seconds(events: list[StoredEvent], until: str) -> float:
    """Closed camera-off episodes as `camera_off_ended` measured them, and an open one from
    its dark time when raised to `until`."""
    dark, open_from = 0.0, None
    for event in events:
        data = event.data or {}
        if event.type == CAMERA_OFF:
            open_from = (event.ts, float((data.get("episode") or {}).get("secondsWithoutFrame", 0)))
        elif event.type == CAMERA_OFF_ENDED:
            dark += float((data.get("episode") or {}).get("darkMs") or 0) / 1000
            open_from = None
    if open_from is not None:
        dark += open_from[1] + _seconds(open_from[0], until)
    return round(dark, 3)


def _gap(
    began: StoredEvent, end: str | None, to_offset: int | None, until: str | None = None
) -> OfflineGap:
    return OfflineGap(
        start=began.ts,
        end=end,
        seconds=round(_seconds(began.ts, end or until or began.ts), 3),
        fromOffset=began.offset,
        toOffset=to_offset,
    )


def _seconds(start: str, end: str) -> float:
    """Seconds from `start` to `end`, never negative (two clocks can disagree)."""
    try:
        delta = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return 0.0
    return max(0.0, delta)
