"""Collaboration (document 001: -25): two sessions of one assessment that agree beyond chance.

Compared when the second of two sessions submits, over the questions both answered. Either:
- shared wrong answers: the number O of questions both got wrong with the same answer. Under
  independence two wrong answers to a question coincide with probability p = sum over its wrong
  answers a of (n_a / N)^2, from the wrong answers the rest of the cohort gave (N of them; with
  fewer than `min_cohort_wrong`, p = `unknown_match`). Flagged when O >= `min_shared_wrong` and
  P(at least O coincide) x `comparisons` <= `max_chance`. Only wrong answers count: two people
  who know the material give the same right answers, and a misconception the whole cohort
  shares has a high p, so it explains itself. The chance is exact (a sum of independent
  Bernoulli trials with those p); a Poisson approximation would be far too cautious when p is
  large, as for a multiple-choice question with one popular distractor;
- timing (only with `timing = true`): the times the two spent on each question agree beyond
  chance. Each time is taken as
  its log relative to the cohort's mean log time for that question (questions with at least
  `min_cohort_times` cohort times), then centred on the candidate's own mean (their pace); over
  at least `timing_min_questions` questions, the correlation r of the two candidates' residuals
  has a one-sided chance P = 1 - Phi(atanh(r) sqrt(n - 3)) (Fisher), flagged when
  P x `comparisons` <= `max_chance` and they share at least `timing_min_shared_wrong` wrong
  answers. Someone waiting for answers takes as long as the one giving them; two people
  answering alone are slow or quick on different questions, once each question's difficulty
  and each one's pace are taken out. Entering answers at the same moments is not used:
  when a sitting starts for everyone at once, honest candidates of similar pace do that.
  Off by default: Fisher's chance assumes normal residuals, and real times are a mixture
  (quick guesses among long thoughts), so two weak candidates who both guess on the same hard
  questions correlate more often than it says. On the synthetic cohort of the tests it
  flagged about 2% of honest sessions; it needs an empirical null (the cohort's own pairs)
  before it may count.

`comparisons` is how many other sessions this one is being compared with (Bonferroni: in a
cohort of a thousand, a one-in-ten-thousand coincidence per pair would otherwise flag one honest
candidate in ten). Evidence: this session's events for the questions in question, the other
session's id, the counts, the correlation and the chances; `lockstepAnswers` says how many
identical answers one entered within `lockstep_seconds` after the other, for the reviewer.
"""

from __future__ import annotations

import math
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
    # On: benchmarks/behaviour.py measured under 1% of honest candidates losing points to it.
    enabled: bool = True
    penalty: Penalty = 25
    min_shared_wrong: Positive = 3
    max_chance: Probability = 1e-4
    unknown_match: Probability = 0.2
    min_cohort_wrong: Positive = 5
    timing: bool = False
    min_cohort_times: Positive = 5
    timing_min_questions: Annotated[int, msgspec.Meta(ge=4)] = 10
    timing_min_shared_wrong: Annotated[int, msgspec.Meta(ge=0)] = 1
    lockstep_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0


class TimeStat(msgspec.Struct, frozen=True, array_like=True):
    count: int
    log_total: float  # the sum of ln(ms) over the cohort's answers


class Cohort(msgspec.Struct, frozen=True, kw_only=True):
    """What the assessment's other sessions (not the pair) did: the wrong answers they gave
    (question -> answer key -> how many gave it) and the times they spent (question -> stat)."""

    wrong: dict[str, dict[str, int]] = {}
    times: dict[str, TimeStat] = {}


def cohort_of(sheets: Iterable[AnswerSheet]) -> Cohort:
    """The cohort the given sheets make; leave the pair being compared out of them."""
    wrong: dict[str, dict[str, int]] = {}
    times: dict[str, tuple[int, float]] = {}
    for sheet in sheets:
        for qid, answer in sheet.answers.items():
            if answer.correct is False:
                counts = wrong.setdefault(qid, {})
                counts[answer.key] = counts.get(answer.key, 0) + 1
            if answer.timeSpentMs > 0:
                count, total = times.get(qid, (0, 0.0))
                times[qid] = (count + 1, total + math.log(answer.timeSpentMs))
    return Cohort(wrong=wrong, times={q: TimeStat(n, t) for q, (n, t) in times.items()})


def without(cohort: Cohort, sheets: Iterable[AnswerSheet]) -> Cohort:
    """`cohort` with `sheets` taken out again: a whole assessment's cohort is built once, and
    each pair compared against it without themselves, so n sessions cost n, not n squared.
    Only the questions the sheets touch are copied."""
    part = cohort_of(sheets)
    wrong = dict(cohort.wrong)
    for qid, counts in part.wrong.items():
        mine = dict(wrong.get(qid, {}))
        for key, n in counts.items():
            left = mine.get(key, 0) - n
            if left > 0:
                mine[key] = left
            else:
                mine.pop(key, None)
        if mine:
            wrong[qid] = mine
        else:
            wrong.pop(qid, None)
    times = dict(cohort.times)
    for qid, stat in part.times.items():
        whole = times.get(qid)
        if whole is None:
            continue
        if whole.count <= stat.count:
            del times[qid]
        else:
            times[qid] = TimeStat(whole.count - stat.count, whole.log_total - stat.log_total)
    return Cohort(wrong=wrong, times=times)


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
    r, timed = _time_correlation(both, cohort, config)
    timing_chance = 1.0
    if timed >= config.timing_min_questions:
        z = math.atanh(max(min(r, 1 - 1e-12), -1 + 1e-12)) * math.sqrt(timed - 3)
        timing_chance = min(0.5 * math.erfc(z / math.sqrt(2)) * max(comparisons, 1), 1.0)
        if (
            config.timing
            and timing_chance <= config.max_chance
            and len(shared_wrong) >= config.timing_min_shared_wrong
        ):
            rules.append(
                f"the times spent on {timed} questions correlate at r = {r:.2f} once each "
                f"question's and each one's pace are taken out (P = {timing_chance:.2g} over "
                f"{comparisons} comparisons <= max_chance={config.max_chance})"
            )
            evidence += [a for a, _ in both]
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
            "timedQuestions": float(timed),
            "timeCorrelation": r,
            "timingChance": timing_chance,
            "lockstepAnswers": float(_led_within(same, config.lockstep_seconds * 1000)),
        },
    )


def _time_correlation(
    both: list[tuple[AnswerSeen, AnswerSeen]], cohort: Cohort, config: CollaborationConfig
) -> tuple[float, int]:
    """(r, questions): the correlation of the two's log times relative to the cohort's."""
    pairs = []
    for a, b in both:
        stat = cohort.times.get(a.questionId)
        if stat is None or stat.count < config.min_cohort_times:
            continue
        if a.timeSpentMs > 0 and b.timeSpentMs > 0:
            mean = stat.log_total / stat.count
            pairs.append((math.log(a.timeSpentMs) - mean, math.log(b.timeSpentMs) - mean))
    if len(pairs) < 3:
        return 0.0, len(pairs)
    mean_a = math.fsum(x for x, _ in pairs) / len(pairs)
    mean_b = math.fsum(y for _, y in pairs) / len(pairs)
    cov = math.fsum((x - mean_a) * (y - mean_b) for x, y in pairs)
    var_a = math.fsum((x - mean_a) ** 2 for x, _ in pairs)
    var_b = math.fsum((y - mean_b) ** 2 for _, y in pairs)
    if var_a <= 0 or var_b <= 0:
        return 0.0, len(pairs)
    return cov / math.sqrt(var_a * var_b), len(pairs)


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
