"""Collaboration (document 001: -25): two sessions of one assessment that agree beyond chance.

Compared when the second of two sessions submits, over the questions both answered:
- shared wrong answers: the number O of questions both got wrong with the same answer. Under
  independence two wrong answers to a question coincide with probability p = sum over its wrong
  answers a of (n_a / N)^2, from the wrong answers the rest of the cohort gave (N of them; with
  fewer than `min_cohort_wrong`, p = `unknown_match`). The pair is flagged when
  O >= `min_shared_wrong` and P(at least O coincide) x `comparisons` <= `max_chance`, where
  `comparisons` is how many other sessions this one is being compared with (Bonferroni: in a
  cohort of a thousand, a one-in-ten-thousand coincidence per pair would otherwise flag one
  honest candidate in ten). Only wrong answers
  count: two people who know the material give the same right answers, and a misconception
  the whole cohort shares has a high p, so it explains itself. The chance of O or more is exact
  (a sum of independent Bernoulli trials with those p; a Poisson approximation would be far too
  cautious when p is large, as for a multiple-choice question with one popular distractor).
- lockstep (only with `lockstep = true`): at least `lockstep_min_answers` identical answers, at
  least `lockstep_min_share` of them entered by the same one of the two within
  `lockstep_seconds` after the other (one relays, the other enters), and at least
  `lockstep_min_shared_wrong` shared wrong answers. Off by default because it is not yet a
  test against chance: when a sitting starts for everyone at once, two honest candidates of
  similar pace enter the same answers moments apart (in tests/test_behaviour_population.py's
  synthetic cohorts, about one honest pair in ten thousand, so a few percent of sessions in a
  large cohort). It needs a chance model conditioned on each one's pace before it may count;
  until then the lockstep count is reported with every finding as supporting evidence.

Evidence: this session's events for the questions in question, and the other session's id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import msgspec

from actors.behaviour.answer_sheet import AnswerSheet
from actors.behaviour.findings import Factor, FactorConfig, Finding, Penalty, found
from actors.behaviour.moments import bernoulli_sum_tail
from actors.behaviour.observations import AnswerSeen

FACTOR = Factor(name="Collaboration detected", check="COLLABORATION")
Positive = Annotated[int, msgspec.Meta(ge=1)]
Probability = Annotated[float, msgspec.Meta(gt=0, le=1)]


class CollaborationConfig(FactorConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    penalty: Penalty = 25
    min_shared_wrong: Positive = 3
    max_chance: Probability = 1e-4
    unknown_match: Probability = 0.2
    min_cohort_wrong: Positive = 5
    lockstep: bool = False
    lockstep_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    lockstep_min_answers: Positive = 10
    lockstep_min_share: Probability = 0.8
    lockstep_min_shared_wrong: Annotated[int, msgspec.Meta(ge=0)] = 1


class Cohort(msgspec.Struct, frozen=True, kw_only=True):
    """The wrong answers the assessment's other sessions (not the pair) gave: question -> answer
    key -> how many gave it."""

    wrong: dict[str, dict[str, int]] = {}


def cohort_of(sheets: Iterable[AnswerSheet]) -> Cohort:
    """The cohort the given sheets make; leave the pair being compared out of them."""
    wrong: dict[str, dict[str, int]] = {}
    for sheet in sheets:
        for qid, answer in sheet.answers.items():
            if answer.correct is False:
                counts = wrong.setdefault(qid, {})
                counts[answer.key] = counts.get(answer.key, 0) + 1
    return Cohort(wrong=wrong)


def chance_of_same_wrong(cohort: Cohort, question_id: str, config: CollaborationConfig) -> float:
    counts = cohort.wrong.get(question_id, {})
    total = sum(counts.values())
    if total < config.min_cohort_wrong:
        return config.unknown_match
    return sum((n / total) ** 2 for n in counts.values())


def finding(
    mine: AnswerSheet,
    theirs: AnswerSheet,
    other_session_id: str,
    cohort: Cohort,
    config: CollaborationConfig,
    *,
    comparisons: int = 1,
) -> Finding | None:
    both = [(mine.answers[q], theirs.answers[q]) for q in mine.answers if q in theirs.answers]
    same = [(a, b) for a, b in both if a.key == b.key]
    both_wrong = [(a, b) for a, b in both if a.correct is False and b.correct is False]
    shared_wrong = [(a, b) for a, b in both_wrong if a.key == b.key]
    chances = [chance_of_same_wrong(cohort, a.questionId, config) for a, _ in both_wrong]
    expected = sum(chances)
    chance = min(bernoulli_sum_tail(chances, len(shared_wrong)) * max(comparisons, 1), 1.0)
    rules: list[str] = []
    evidence: list[AnswerSeen] = []
    if len(shared_wrong) >= config.min_shared_wrong and chance <= config.max_chance:
        rules.append(
            f"{len(shared_wrong)} identical wrong answers >= min_shared_wrong="
            f"{config.min_shared_wrong} where {expected:.2f} were expected by chance "
            f"(P = {chance:.2g} over {comparisons} comparisons <= max_chance={config.max_chance})"
        )
        evidence += [a for a, _ in shared_wrong]
    led = _led_within(same, config.lockstep_seconds * 1000)
    if (
        config.lockstep
        and len(same) >= config.lockstep_min_answers
        and led >= config.lockstep_min_share * len(same)
        and len(shared_wrong) >= config.lockstep_min_shared_wrong
    ):
        rules.append(
            f"{led} of {len(same)} identical answers entered by one within lockstep_seconds="
            f"{config.lockstep_seconds} after the other (share >= lockstep_min_share="
            f"{config.lockstep_min_share})"
        )
        evidence += [a for a, _ in same]
    if not rules:
        return None
    return found(
        config,
        FACTOR,
        f"with session {other_session_id}: " + "; ".join(rules),
        [a.offset for a in evidence],
        question_ids=[a.questionId for a in evidence],
        other_session_id=other_session_id,
        measures={
            "sharedQuestions": float(len(both)),
            "identicalAnswers": float(len(same)),
            "identicalWrong": float(len(shared_wrong)),
            "expectedIdenticalWrong": expected,
            "chance": chance,
            "lockstepAnswers": float(led),
        },
    )


def _led_within(same: list[tuple[AnswerSeen, AnswerSeen]], window_ms: float) -> int:
    """How many identical answers the more frequent leader entered first, within the window."""
    mine_first = theirs_first = 0
    for a, b in same:
        lag = b.submittedAtMs - a.submittedAtMs
        if 0 < lag <= window_ms:
            mine_first += 1
        elif 0 < -lag <= window_ms:
            theirs_first += 1
    return max(mine_first, theirs_first)
