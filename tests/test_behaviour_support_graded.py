"""Synthetic candidates answering graded questions, for the answer-reading behaviour factors
(unusual answer patterns, collaboration): honest people whose right and wrong answers follow
their ability (a logistic item model), sometimes with a quick guess, and the cheaters (fed
answers, a copier). No tests here; the behaviour test modules import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from actors.behaviour.observations import AnswerSeen
from tests.test_behaviour_support import START_MS, Session

LEVELS = {"easy": -1.5, "medium": 0.0, "hard": 1.5}
PER_LEVEL = 10
OPTIONS = ("a", "b", "c", "d", "e", "f", "g", "h")


@dataclass(frozen=True)
class Item:
    id: str
    difficulty: str
    correct: str
    # Wrong answers and how popular each is among those who get it wrong.
    wrong: tuple[str, ...]
    wrong_weights: tuple[float, ...]


def assessment(seed: int = 0) -> list[Item]:
    """30 graded questions: half multiple choice (a common misconception among 3 distractors),
    half short numeric answers (wrong ones spread thin)."""
    rng = np.random.default_rng(10_000 + seed)
    items = []
    for level in LEVELS:
        for n in range(PER_LEVEL):
            qid = f"{level}{n}"
            if n % 2:
                wrong = ("b", "c", "d")
                weights = tuple(float(w) for w in rng.dirichlet([3.0, 1.0, 1.0]))
                items.append(Item(qid, level, "a", wrong, weights))
            else:
                wrong = tuple(str(v) for v in range(100, 140))
                weights = tuple(float(w) for w in rng.dirichlet([0.5] * len(wrong)))
                items.append(Item(qid, level, "42", wrong, weights))
    return items


def _p_right(ability: float, item: Item) -> float:
    return 1 / (1 + math.exp(-1.7 * (ability - LEVELS[item.difficulty])))


def honest_answers(
    seed: int, items: list[Item], *, start_ms: int = START_MS, ability: float | None = None
) -> Session:
    s = Session(seed)
    s.clock_ms = start_ms + int(s.rng.integers(0, 120_000))
    drawn = float(s.rng.normal(0, 1))
    ability = drawn if ability is None else ability
    pace = float(s.rng.uniform(0.6, 1.6))
    median = {"easy": 25_000, "medium": 45_000, "hard": 70_000}
    for item in items:
        guess = ability - LEVELS[item.difficulty] < -1 and s.rng.random() < 0.3
        if guess:
            right = s.rng.random() < 0.25
            took = int(s.rng.uniform(2_000, 8_000))
        else:
            right = s.rng.random() < _p_right(ability, item)
            took = int(s.rng.lognormal(math.log(median[item.difficulty] * pace), 0.5))
        response = item.correct if right else _wrong(s.rng, item)
        s.answer(item.id, response, took, correct=right, difficulty=item.difficulty)
    return s


def _wrong(rng: np.random.Generator, item: Item) -> str:
    return str(rng.choice(item.wrong, p=item.wrong_weights))


def fed_answers(seed: int, items: list[Item]) -> Session:
    """A weak candidate handed the answers to the hard questions, entered at once."""
    s = Session(seed)
    ability = float(s.rng.uniform(-2.0, -0.8))
    for item in items:
        if item.difficulty == "hard":
            s.answer(
                item.id,
                item.correct,
                int(s.rng.uniform(1_500, 4_500)),
                correct=True,
                difficulty="hard",
            )
            continue
        right = s.rng.random() < _p_right(ability, item)
        took = int(s.rng.lognormal(math.log(40_000), 0.5))
        s.answer(
            item.id,
            item.correct if right else _wrong(s.rng, item),
            took,
            correct=right,
            difficulty=item.difficulty,
        )
    return s


def copier(source: Session, seed: int, items: list[Item], *, share: float = 0.8) -> Session:
    """Takes `share` of the source's answers, wrong ones included, entering each 5-25 s after
    the source did; answers the rest alone."""
    s = Session(seed)
    ability = float(s.rng.normal(-0.5, 0.7))
    by_question = {a.questionId: a for a in source.answers}
    for item in items:
        theirs = by_question[item.id]
        if s.rng.random() < share:
            # Waits for the source's answer, however long that takes, then enters it.
            at = max(theirs.submittedAtMs, s.clock_ms) + int(s.rng.uniform(5_000, 25_000))
            s.offset += 1
            s.answers.append(
                AnswerSeen(
                    offset=s.offset,
                    questionId=item.id,
                    timeSpentMs=at - s.clock_ms,
                    submittedAtMs=at,
                    key=theirs.key,
                    correct=theirs.correct,
                    difficulty=item.difficulty,
                )
            )
            s.clock_ms = at
            continue
        right = s.rng.random() < _p_right(ability, item)
        took = int(s.rng.lognormal(math.log(40_000), 0.5))
        s.answer(
            item.id,
            item.correct if right else _wrong(s.rng, item),
            took,
            correct=right,
            difficulty=item.difficulty,
        )
    return s
