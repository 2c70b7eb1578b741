"""What is due when a session's timer fires, and when it should fire next: the time limit
(actors/exam.py) and the camera watch (actors/camera_watch.py) share the one timer each session
has (app/sessions/deadlines.py, docs/architecture.md "Timers"). Pure: the time is passed in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from actors import camera_watch, exam, outbound
from actors.camera_watch import CameraRules
from actors.events import iso_ms
from actors.state import FINISHED, SessionSnapshot

SUBMITTED: Final = "assessment_submitted"


class Due(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    data: dict[str, Any]
    origin: str


def ends_at(
    policy: exam.ExamPolicy, record: SessionSnapshot, start: str, now: float | None = None
) -> float | None:
    return exam.ends_at(policy, record.exam, start, now)


def next_wake(
    rules: CameraRules | None, policy: exam.ExamPolicy, record: SessionSnapshot, start: str
) -> float | None:
    """The earliest time something could be due, or None."""
    if record.status in FINISHED:
        return None
    found = [None if rules is None else camera_watch.deadline(rules, record.camera)]
    if not record.submitted and record.exam.pausedSince is None:  # a pause stops the clock
        found.append(ends_at(policy, record, start))
    times = [when for when in found if when is not None]
    return min(times) if times else None


def due(
    rules: CameraRules | None,
    policy: exam.ExamPolicy,
    record: SessionSnapshot,
    start: str,
    now: float,
) -> list[Due]:
    """The events to store now: a time-limit submit, a `camera_off`."""
    if record.status in FINISHED:
        return []
    found = []
    ends = ends_at(policy, record, start, now)
    if ends is not None and not record.submitted and now >= ends:
        data = {
            "reason": exam.TIME_LIMIT,
            "answers": [],
            "limitSeconds": _limit(policy, record),
            "pausedSeconds": round(record.exam.pausedSeconds, 3),
        }
        found.append(Due(type=SUBMITTED, data=data, origin="server"))
        return found  # finished: the camera no longer counts
    for item in [] if rules is None else camera_watch.due(rules, record.camera, now):
        found.append(Due(type=item.type, data=item.data, origin="server"))
    return found


def clock_message(
    policy: exam.ExamPolicy, record: SessionSnapshot, start: str, now: float
) -> bytes | None:
    ends = ends_at(policy, record, start, now)
    if ends is None:
        return None
    return outbound.encode(
        outbound.ExamClock(
            serverTime=iso_seconds(now),
            endsAt=iso_seconds(ends),
            secondsLeft=round(max(0.0, ends - now), 3),
            timeUp=record.exam.timeUp or (record.submitted and now >= ends),
            paused=record.exam.pausedSince is not None,
        )
    )


def iso_seconds(moment: float) -> str:
    return iso_ms(datetime.fromtimestamp(moment, UTC))


def _limit(policy: exam.ExamPolicy, record: SessionSnapshot) -> float:
    return (policy.durationSeconds or 0.0) + record.exam.extraTimeSeconds
