"""Typing inconsistency (document 001: typing speed inconsistency, -5): answers nobody typed, or
a second typist.

A session shows it when either holds:
- untyped: at least `untyped_answers_min` answers of at least `long_answer_chars` characters
  each got under `max_typed_share` of their length from the candidate's own input (typed, plus
  composition, autocorrect and dictation); the rest came by paste. One pasted answer, such as a
  candidate's own notes, is not enough;
- rhythm: the keystroke intervals (under the pause threshold, so thinking does not count) of
  one stretch of questions differ from the rest of the session in both mean (the slower over the
  faster at least `rhythm_mean_ratio`) and shape (total variation distance between the two
  interval histograms at least `rhythm_min_tvd`), each side with at least
  `rhythm_min_intervals` intervals. A stretch is every question from some point on (someone took
  over) or a single question (someone typed one answer).

Evidence: the windows of the untyped answers, or of the stretch typed differently.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from actors.behaviour.findings import MAX_EVIDENCE, Factor, FactorConfig, Finding, Penalty, found
from actors.behaviour.observations import WindowSeen
from actors.behaviour_events import BUCKETS

FACTOR = Factor(name="Typing speed inconsistency", check="TYPING_INCONSISTENCY")
BURST_BUCKETS = BUCKETS - 1
Positive = Annotated[int, msgspec.Meta(ge=1)]
Ratio = Annotated[float, msgspec.Meta(ge=0, le=1)]


class TypingConfig(FactorConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    penalty: Penalty = 5
    long_answer_chars: Positive = 200
    max_typed_share: Ratio = 0.2
    untyped_answers_min: Positive = 2
    rhythm_min_intervals: Positive = 300
    rhythm_mean_ratio: Annotated[float, msgspec.Meta(ge=1)] = 1.5
    rhythm_min_tvd: Ratio = 0.3


class Rhythm(msgspec.Struct, frozen=True, array_like=True):
    """Burst intervals: how many, their sum (ms), and the histogram without the pause bucket."""

    count: int = 0
    total: int = 0
    histogram: tuple[int, ...] = (0,) * BURST_BUCKETS

    def plus(self, other: Rhythm) -> Rhythm:
        return Rhythm(
            self.count + other.count,
            self.total + other.total,
            tuple(a + b for a, b in zip(self.histogram, other.histogram, strict=True)),
        )

    def minus(self, other: Rhythm) -> Rhythm:
        return Rhythm(
            self.count - other.count,
            self.total - other.total,
            tuple(a - b for a, b in zip(self.histogram, other.histogram, strict=True)),
        )


class QuestionTyping(msgspec.Struct, frozen=True, kw_only=True):
    offsets: tuple[int, ...] = ()  # the first MAX_EVIDENCE windows
    typed: int = 0  # typed plus other input by the candidate
    pasted: int = 0
    answer_length: int = 0  # at the latest window
    rhythm: Rhythm = Rhythm()


class TypingState(msgspec.Struct, frozen=True, kw_only=True):
    questions: dict[str, QuestionTyping] = {}  # in the order first seen


def fold(state: TypingState, seen: WindowSeen) -> TypingState:
    window = seen.window
    text, keys = window.text, window.keys
    before = state.questions.get(seen.questionId, QuestionTyping())
    offsets = before.offsets
    if len(offsets) < MAX_EVIDENCE:
        offsets = (*offsets, seen.offset)
    rhythm = Rhythm(keys.burst_count, keys.burstSumMs, keys.intervals[:-1])
    after = QuestionTyping(
        offsets=offsets,
        typed=before.typed + text.charsTyped + text.charsOther,
        pasted=before.pasted + text.charsPasted,
        answer_length=text.answerLength,
        rhythm=before.rhythm.plus(rhythm),
    )
    return TypingState(questions={**state.questions, seen.questionId: after})


def finding(state: TypingState, config: TypingConfig) -> Finding | None:
    untyped = [
        (qid, q)
        for qid, q in state.questions.items()
        if q.answer_length >= config.long_answer_chars
        and q.typed < config.max_typed_share * q.answer_length
    ]
    if len(untyped) >= config.untyped_answers_min:
        return found(
            config,
            FACTOR,
            f"{len(untyped)} answers of >= long_answer_chars={config.long_answer_chars} with under "
            f"max_typed_share={config.max_typed_share} typed >= untyped_answers_min="
            f"{config.untyped_answers_min}",
            [offset for _, q in untyped for offset in q.offsets],
            question_ids=[qid for qid, _ in untyped],
            measures={"untypedAnswers": float(len(untyped))},
        )
    return _rhythm_finding(state, config)


def _rhythm_finding(state: TypingState, config: TypingConfig) -> Finding | None:
    ids = list(state.questions)
    whole = Rhythm()
    for q in state.questions.values():
        whole = whole.plus(q.rhythm)
    # Every single question, then every tail of the session (built from the end, so O(questions)).
    stretches = [([qid], state.questions[qid].rhythm) for qid in ids]
    tail = Rhythm()
    for k in range(len(ids) - 1, 0, -1):
        tail = tail.plus(state.questions[ids[k]].rhythm)
        stretches.append((ids[k:], tail))
    best: tuple[float, float, float, list[str]] | None = None
    for stretch, inside in stretches:
        compared = _compare(inside, whole.minus(inside), config)
        if compared is not None and (best is None or compared[0] > best[0]):
            best = (*compared, stretch)
    if best is None:
        return None
    tvd, mean_inside, mean_outside, stretch = best
    return found(
        config,
        FACTOR,
        f"questions {', '.join(stretch)} typed at a mean interval of {mean_inside:.0f} ms against "
        f"{mean_outside:.0f} ms elsewhere (ratio >= rhythm_mean_ratio={config.rhythm_mean_ratio}), "
        f"histogram distance {tvd:.2f} >= rhythm_min_tvd={config.rhythm_min_tvd}",
        [offset for qid in stretch for offset in state.questions[qid].offsets],
        question_ids=stretch,
        measures={"meanIntervalMs": mean_inside, "otherMeanIntervalMs": mean_outside, "tvd": tvd},
    )


def _compare(
    inside: Rhythm, outside: Rhythm, config: TypingConfig
) -> tuple[float, float, float] | None:
    """(distance, mean inside, mean outside) when the two differ as the rule asks, else None."""
    if min(inside.count, outside.count) < config.rhythm_min_intervals:
        return None
    if min(inside.total, outside.total) <= 0:
        return None
    mean_in, mean_out = inside.total / inside.count, outside.total / outside.count
    if max(mean_in, mean_out) / min(mean_in, mean_out) < config.rhythm_mean_ratio:
        return None
    tvd = 0.5 * sum(
        abs(a / inside.count - b / outside.count)
        for a, b in zip(inside.histogram, outside.histogram, strict=True)
    )
    if tvd < config.rhythm_min_tvd:
        return None
    return tvd, mean_in, mean_out
