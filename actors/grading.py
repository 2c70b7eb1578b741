"""Assessments and grading (document 001's CandidateAnswer scores and ScoreSummary).

An assessment names its questions with a category, a maximum score, a difficulty and a correct
answer; a question without one is graded by hand. Grading is pure: the final answer to each
question, compared with its correct answer, plus the scores reviewers gave by hand.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

import msgspec

from actors.events import QuestionId

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]
Points = Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
ScoringMethod = Literal["auto", "manual"]
TOTAL: Final = "total"


class Question(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: QuestionId
    category: Label = "general"
    maxScore: Points = 1.0
    # Compared with the candidate's response; absent or null: a reviewer grades it.
    correctAnswer: Any = None
    difficulty: Label | None = None

    @property
    def auto_graded(self) -> bool:
        return self.correctAnswer is not None


class AssessmentDefinition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /assessments`: what an assessment asks and what passes it."""

    id: Ident
    title: Annotated[str, msgspec.Meta(max_length=500)] = ""
    questions: Annotated[list[Question], msgspec.Meta(min_length=1, max_length=5000)]
    passMark: Percent = 50.0  # the percentage of the maximum score that passes

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for index, question in enumerate(self.questions):
            if question.id in seen:
                # msgspec reports a ValueError raised here as a validation error of the body.
                raise ValueError(f"question id {question.id!r} appears twice (questions[{index}])")
            seen.add(question.id)

    def question(self, question_id: str) -> Question | None:
        for question in self.questions:
            if question.id == question_id:
                return question
        return None


class Assessment(AssessmentDefinition, frozen=True, kw_only=True, forbid_unknown_fields=True):
    createdAt: str


class Grade(msgspec.Struct, frozen=True, kw_only=True):
    """What grading says of one answer."""

    score: float | None  # None: waiting for a reviewer
    maxScore: float
    percentage: float | None
    difficulty: str | None
    category: str
    scoringMethod: ScoringMethod


class CategoryScore(msgspec.Struct, frozen=True, kw_only=True):
    score: float
    max: float
    percentage: float


class ScoreSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    sessionId: str
    assessmentId: str
    totalScore: float
    maxPossibleScore: float
    percentage: float
    # Per category, plus "total": document 001's "Score Breakdown Example".
    breakdown: dict[str, CategoryScore]
    passMark: float
    # None while answers wait for a reviewer: a pass or fail would be a guess.
    passStatus: bool | None
    pendingManualGrading: int
    createdAt: str
    updatedAt: str


def grade(question: Question, response: Any, manual_score: float | None) -> Grade:
    if question.auto_graded:
        correct = matches(question.correctAnswer, response)
        score: float | None = question.maxScore if correct else 0.0
        method: ScoringMethod = "auto"
    else:
        score, method = manual_score, "manual"
    return Grade(
        score=score,
        maxScore=question.maxScore,
        percentage=None if score is None else _percent(score, question.maxScore),
        difficulty=question.difficulty,
        category=question.category,
        scoringMethod=method,
    )


def summarize_scores(
    session_id: str,
    assessment: Assessment,
    final_answers: Mapping[str, Any],
    manual_scores: Mapping[str, float],
    created_at: str,
    updated_at: str,
) -> ScoreSummary:
    """The ScoreSummary of a submitted session: unanswered questions score 0."""
    earned: dict[str, float] = {}
    possible: dict[str, float] = {}
    pending = 0
    for question in assessment.questions:
        category = question.category
        possible[category] = possible.get(category, 0.0) + question.maxScore
        earned.setdefault(category, 0.0)
        if question.id not in final_answers:
            continue
        result = grade(question, final_answers[question.id], manual_scores.get(question.id))
        if result.score is None:
            pending += 1
        else:
            earned[category] += result.score
    breakdown = {
        category: CategoryScore(
            score=_round(earned[category]),
            max=_round(possible[category]),
            percentage=_percent(earned[category], possible[category]),
        )
        for category in possible
    }
    total, maximum = sum(earned.values()), sum(possible.values())
    percentage = _percent(total, maximum)
    breakdown[TOTAL] = CategoryScore(
        score=_round(total), max=_round(maximum), percentage=percentage
    )
    return ScoreSummary(
        id=f"{session_id}:score",
        sessionId=session_id,
        assessmentId=assessment.id,
        totalScore=_round(total),
        maxPossibleScore=_round(maximum),
        percentage=percentage,
        breakdown=breakdown,
        passMark=assessment.passMark,
        passStatus=None if pending else percentage >= assessment.passMark,
        pendingManualGrading=pending,
        createdAt=created_at,
        updatedAt=updated_at,
    )


def matches(correct: Any, response: Any) -> bool:
    """Whether a response is the correct answer. A response `{"answer": x}` (document 001's
    example) is judged by `x`; text ignores case, accents' composition and spacing; numbers
    compare by value, also when one of them was sent as text; a list of correct answers is a
    set (multiple choice in any order)."""
    if isinstance(response, dict) and "answer" in response and not isinstance(correct, dict):
        response = response["answer"]
    if isinstance(correct, list) and isinstance(response, list):
        return sorted(map(_canonical, correct)) == sorted(map(_canonical, response))
    return _canonical(correct) == _canonical(response)


def _canonical(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"b:{value}"
    number = _number(value)
    if number is not None:
        return f"n:{number!r}"
    if isinstance(value, str):
        return "s:" + " ".join(unicodedata.normalize("NFC", value).casefold().split())
    return "j:" + msgspec.json.encode(value, order="sorted").decode()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _percent(part: float, whole: float) -> float:
    return _round(100 * part / whole) if whole else 0.0


def _round(value: float) -> float:
    return round(value, 2)
