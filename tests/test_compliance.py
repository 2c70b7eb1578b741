"""`complianceScore` (actors/compliance.py): the share of the session's minutes without a
counted violation."""

from __future__ import annotations

from actors.compliance import compliance_score
from actors.record_types import AntiCheatViolation

START = "2026-12-07T10:00:00.000Z"


def violation(vid: str, ts: str) -> AntiCheatViolation:
    return AntiCheatViolation(
        id=vid, sessionId="s", type="TAB_SWITCH", description="", timestamp=ts,
        questionId=None, severity="MEDIUM", details={}, resolved=False,
    )  # fmt: skip


def test_a_clean_session_is_fully_compliant() -> None:
    assert compliance_score([], set(), START, 600) == 100
    assert compliance_score([], set(), START, 0) == 100


def test_minutes_with_violations_count_once_each() -> None:
    found = [
        violation("a", "2026-12-07T10:00:10.000Z"),
        violation("b", "2026-12-07T10:00:50.000Z"),  # the same minute as a
        violation("c", "2026-12-07T10:03:00.000Z"),
    ]
    assert compliance_score(found, set(), START, 600) == 80  # 2 of 10 minutes


def test_a_dismissed_violation_does_not_count_and_strays_are_clamped() -> None:
    found = [
        violation("a", "2026-12-07T10:00:10.000Z"),
        violation("late", "2026-12-07T11:00:00.000Z"),  # after the end: the last minute
        violation("early", "2026-12-07T09:00:00.000Z"),  # before the start: the first
    ]
    assert compliance_score(found, {"a"}, START, 240) == 50
    assert compliance_score([violation("x", "not a time")], set(), START, 240) == 75
