"""Unusual answer patterns (document 001: -10): hard questions right at once, easy ones wrong.

A session shows it when both hold:
- at least `min_fast_hard` questions labelled hard (`hard_labels`) were answered correctly in
  under `fast_seconds`;
- among auto-graded questions, at least `min_graded` hard and `min_graded` easy (`easy_labels`)
  ones, the share right of the hard ones exceeds the share right of the easy ones by at least
  `inversion_gap`. Someone who knows the material gets easy questions right too; someone fed
  the answers to the hard ones does not need to read them.

Evidence: the fast right hard answers and the wrong easy ones.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from actors.behaviour.answer_sheet import AnswerSheet
from actors.behaviour.findings import Factor, FactorConfig, Finding, Penalty, found
from actors.behaviour.observations import AnswerSeen

FACTOR = Factor(name="Unusual answer patterns", check="UNUSUAL_ANSWER_PATTERNS")
Positive = Annotated[int, msgspec.Meta(ge=1)]
Labels = Annotated[
    tuple[Annotated[str, msgspec.Meta(min_length=1)], ...], msgspec.Meta(max_length=100)
]


class AnswerPatternsConfig(FactorConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # On: benchmarks/behaviour.py measured under 1% of honest candidates losing points to it.
    enabled: bool = True
    penalty: Penalty = 10
    hard_labels: Labels = ("hard",)
    easy_labels: Labels = ("easy",)
    fast_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    min_fast_hard: Positive = 3
    min_graded: Positive = 3
    inversion_gap: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.2


def finding(sheet: AnswerSheet, config: AnswerPatternsConfig) -> Finding | None:
    hard = _graded(sheet, config.hard_labels)
    easy = _graded(sheet, config.easy_labels)
    fast_ms = config.fast_seconds * 1000
    fast_hard = [a for a in hard if a.correct and a.timeSpentMs < fast_ms]
    if len(fast_hard) < config.min_fast_hard:
        return None
    if min(len(hard), len(easy)) < config.min_graded:
        return None
    hard_right = sum(1 for a in hard if a.correct) / len(hard)
    easy_wrong = [a for a in easy if not a.correct]
    easy_right = 1 - len(easy_wrong) / len(easy)
    # Shares of whole counts: 1.0 - 0.8 must count as a gap of 0.2.
    if hard_right - easy_right < config.inversion_gap - 1e-9:
        return None
    evidence = fast_hard + easy_wrong
    return found(
        config,
        FACTOR,
        f"{len(fast_hard)} hard questions right in under fast_seconds={config.fast_seconds} "
        f">= min_fast_hard={config.min_fast_hard}; {hard_right:.0%} of hard right against "
        f"{easy_right:.0%} of easy (gap >= inversion_gap={config.inversion_gap})",
        [a.offset for a in evidence],
        question_ids=[a.questionId for a in evidence],
        measures={
            "fastHardRight": float(len(fast_hard)),
            "hardRightShare": hard_right,
            "easyRightShare": easy_right,
        },
    )


def _graded(sheet: AnswerSheet, labels: tuple[str, ...]) -> list[AnswerSeen]:
    wanted = {label.casefold() for label in labels}
    return [
        a
        for a in sheet.answers.values()
        if a.correct is not None and (a.difficulty or "").casefold() in wanted
    ]
