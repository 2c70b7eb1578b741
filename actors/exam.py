"""Exam control, pure: the time limit, the accommodations and the pause a candidate acknowledges
(CONTRACT.md section 9.3).

The session actor owns an `ExamRecord` inside its snapshot; `observe` folds each stored event
into it (called by `lifecycle.fold`), so a replay or a restart rebuilds the same record. The
assessment's policy (`ExamPolicy`) never changes, so it is loaded with the session, not stored
per event. Times are epoch seconds passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

import msgspec

from actors import scoring
from actors.events import StoredEvent

MAX_SECONDS: Final = 7 * 24 * 3600  # a duration or extra time over a week is a mistake
CameraPolicy = Literal["required", "optional", "off"]
# An assessment's duration: positive, at most 7 days.
Duration = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]
ExtraTime = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]

# POST /candidate-sessions or PUT /candidate-sessions/:id: data {extraTimeSeconds,
# disabledChecks}, the whole set of accommodations that applies from then on.
ACCOMMODATIONS_SET: Final = "accommodations_set"
# The server submits at the time limit with this `data.reason`.
TIME_LIMIT: Final = "time_limit"
# The candidate ended a pause (document 002: "until the candidate acknowledges"); a candidate
# event, `vigil.acknowledgePause()` in the SDK.
PAUSE_ACKNOWLEDGED: Final = "pause_acknowledged"
# Events stored after a time-limit submit carry `data.late = true`.
LATE: Final = "late"
# Stamped by the actor on a `pause_acknowledged` that ended a pause: when the server received
# it (ISO UTC). The candidate's own `ts` is not trusted to say how long the pause lasted.
RESUMED_AT: Final = "resumedAt"

# Every violation type the server itself raises (CONTRACT.md sections 6 and 9): what
# `disabledChecks` may name.
Check = Literal[
    "TAB_SWITCH",
    "COPY_PASTE",
    "FULLSCREEN_EXIT",
    "FOCUS_LOSS",
    "DEVTOOLS_OPENED",
    "RIGHT_CLICK",
    "MULTIPLE_TABS",
    "EXCESSIVE_IDLE",
    "RECORDING_FAILURE",
    "FACE_NOT_DETECTED",
    "MULTIPLE_FACES",
    "MULTIPLE_VIOLATIONS",
    "CAMERA_OFF",
    "IDENTITY_MISMATCH",
    "AUDIO_ANOMALY",
    # Issue 28's behaviour factors (actors/behaviour/), by their checks.
    "BOT_LIKE",
    "TYPING_INCONSISTENCY",
    "EXACT_TIMING",
    "UNUSUAL_ANSWER_PATTERNS",
    "SOURCE_SIMILARITY",
    "COLLABORATION",
    "VPN_PROXY",
]
KNOWN_CHECKS: Final = frozenset(get_args(Check))


class Accommodations(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Agreed for one candidate: more time, and checks that do not count against them."""

    extraTimeSeconds: ExtraTime = 0.0
    # An enum in the OpenAPI document, so a client knows the names before it is refused.
    disabledChecks: Annotated[list[Check], msgspec.Meta(max_length=len(KNOWN_CHECKS))] = []


class ExamPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What the session's assessment says about running it."""

    durationSeconds: float | None = None
    camera: CameraPolicy = "required"
    proctoring: Any = None  # actors.exam_policy.Proctoring (which imports this module's peers)
    # The assessment's questions by id (actors.grading.Question), for the behaviour factors
    # that read answers against the key and the difficulty (actors/behaviour_watch.py).
    questions: Any = None


class ExamRecord(msgspec.Struct, kw_only=True):
    """Part of the session's snapshot."""

    extraTimeSeconds: float = 0.0
    disabledChecks: list[str] = msgspec.field(default_factory=list)
    timeUp: bool = False  # submitted by the server at the time limit
    pauseAcknowledged: int = 0  # pauses the candidate ended
    # The exam's clock stops while the session is paused: seconds spent in ended pauses, and
    # when the current one began (the server's time), if one is on.
    pausedSeconds: float = 0.0
    pausedSince: str | None = None


def observe(record: ExamRecord, score: scoring.ScoreState, event: StoredEvent) -> None:
    """Fold `event`; a disabled check is also told to scoring, which raises its violations
    `accommodated` and counts them for nothing (incremental equals recomputation)."""
    data = event.data or {}
    if event.type == ACCOMMODATIONS_SET:
        record.extraTimeSeconds = float(data.get("extraTimeSeconds") or 0.0)
        record.disabledChecks = [str(check) for check in data.get("disabledChecks") or []]
        score.disabled_checks = list(record.disabledChecks)
    elif event.type == "assessment_submitted" and data.get("reason") == TIME_LIMIT:
        record.timeUp = True
    elif event.type == PAUSE_ACKNOWLEDGED:
        record.pauseAcknowledged += 1


def paused(record: ExamRecord, is_paused: bool, server_ts: str) -> None:
    """The session went into or out of a pause at `server_ts` (the server's time): the clock
    stops at the one and starts again at the other."""
    if is_paused and record.pausedSince is None:
        record.pausedSince = server_ts
    elif not is_paused and record.pausedSince is not None:
        began, record.pausedSince = record.pausedSince, None
        lasted = _epoch(server_ts) - _epoch(began)
        if math.isfinite(lasted) and lasted > 0:
            record.pausedSeconds = min(record.pausedSeconds + lasted, MAX_SECONDS)


def resumed_at(event: StoredEvent) -> str:
    """When a pause-ending event was received by the server: an admin's or the server's own
    event's `ts`, a candidate's acknowledgement's stamp (absent on one stored before the clock
    stopped in pauses: then its `ts`, as it was counted then)."""
    if event.origin == "candidate":
        stamped = (event.data or {}).get(RESUMED_AT)
        if isinstance(stamped, str):
            return stamped
    return event.ts


def ends_at(
    policy: ExamPolicy, record: ExamRecord, start_time: str, now: float | None = None
) -> float | None:
    """When the session's time is up (epoch seconds), or None without a time limit. While a
    pause is on, the end moves with `now` (None: the end as if the pause ended at its start)."""
    if policy.durationSeconds is None:
        return None
    start = _epoch(start_time)
    if not math.isfinite(start):
        return None
    ends = start + policy.durationSeconds + record.extraTimeSeconds + record.pausedSeconds
    if record.pausedSince is not None and now is not None:
        ends += max(0.0, now - _epoch(record.pausedSince))
    return ends


def stamp_resumed(event: StoredEvent, server_ts: str) -> StoredEvent:
    """A candidate's `pause_acknowledged` that ends a pause, with the server's time on it."""
    return msgspec.structs.replace(event, data={**(event.data or {}), RESUMED_AT: server_ts})


def _epoch(moment: str) -> float:
    try:
        return datetime.fromisoformat(moment).timestamp()
    except ValueError:
        return math.nan


def accommodations_data(accommodations: Accommodations) -> dict[str, Any]:
    return {
        "extraTimeSeconds": accommodations.extraTimeSeconds,
        "disabledChecks": sorted(set(accommodations.disabledChecks)),
    }


def mark_late(event: StoredEvent) -> StoredEvent:
    """An event that came after the time-limit submit: stored, flagged, never dropped."""
    return msgspec.structs.replace(event, data={**(event.data or {}), LATE: True})
