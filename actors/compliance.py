"""The report's `complianceScore`: how much of the session the candidate kept to the rules, as a
share of time rather than of points. The session is cut into whole minutes from its start to its
end (or to now while it runs); a minute in which any counted violation happened (one a reviewer
dismissed does not count) is a non-compliant minute. The score is the compliant minutes' share,
0-100, rounded. The verification score says how bad the violations were; this says how often."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from actors.record_types import AntiCheatViolation


def compliance_score(
    violations: Iterable[AntiCheatViolation],
    dismissed: set[str],
    session_start: str,
    session_seconds: float,
) -> int:
    minutes = max(1, math.ceil(max(session_seconds, 0.0) / 60))
    start = _moment(session_start)
    flagged: set[int] = set()
    for violation in violations:
        if violation.id in dismissed:
            continue
        moment = _moment(violation.timestamp)
        if start is None or moment is None:
            flagged.add(0)  # a time we cannot place still costs one minute
            continue
        minute = int((moment - start).total_seconds() // 60)
        flagged.add(min(max(minute, 0), minutes - 1))
    return round(100 * (minutes - len(flagged)) / minutes)


def _moment(ts: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
