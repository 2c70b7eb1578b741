"""Consistent exact timing (document 001: -10): per-question times too even for a person.

A session shows it when it has answered at least `min_answers` questions and the times spent on
them (the latest answer to each, whole milliseconds) have a coefficient of variation (population
standard deviation / mean) of at most `max_cv`. People spend very different times on different
questions (a CV near 0.5 or more); a script that waits a fixed time per question does not.

Evidence: every answer's event.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from actors.behaviour.answer_sheet import AnswerSheet
from actors.behaviour.findings import Factor, FactorConfig, Finding, Penalty, found
from actors.behaviour.moments import coefficient_of_variation

FACTOR = Factor(name="Consistent exact timing", check="EXACT_TIMING")


class ExactTimingConfig(FactorConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # On: benchmarks/behaviour.py measured under 1% of honest candidates losing points to it.
    enabled: bool = True
    penalty: Penalty = 10
    min_answers: Annotated[int, msgspec.Meta(ge=2)] = 8
    max_cv: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.05


def finding(sheet: AnswerSheet, config: ExactTimingConfig) -> Finding | None:
    times = [answer.timeSpentMs for answer in sheet.answers.values()]
    if len(times) < config.min_answers:
        return None
    cv = coefficient_of_variation(len(times), sum(times), sum(t * t for t in times))
    if cv is None or cv > config.max_cv:
        return None
    mean = sum(times) / len(times) / 1000
    return found(
        config,
        FACTOR,
        f"{len(times)} answers >= min_answers={config.min_answers} took {mean:.1f} s each on "
        f"average with a coefficient of variation of {cv:.3f} <= max_cv={config.max_cv}",
        [answer.offset for answer in sheet.answers.values()],
        question_ids=list(sheet.answers),
        measures={"answers": float(len(times)), "meanSeconds": mean, "cv": cv},
    )
