"""Assessments and grading (document 001's CandidateAnswer scores and ScoreSummary).

An assessment names its questions with a category, a maximum score, a difficulty and a correct
answer; a question without one is graded by hand. Grading is pure: the final answer to each
question, compared with its correct answer, plus the scores reviewers gave by hand.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

import msgspec

from actors.events import QuestionId
from actors.exam import CameraPolicy, Duration
from actors.exam_policy import Proctoring

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
    # Exam control (CONTRACT.md section 9.3, actors/exam.py): the time limit, none by default,
    # and whether the camera must stay on (`camera_off` when it goes dark).
    durationSeconds: Duration | None = None
    camera: CameraPolicy = "required"
    # Which alert rules run and what happens at max warnings (actors/exam_policy.py).
    proctoring: Proctoring | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for index, question in enumerate(self.questions):
            # msgspec reports a ValueError raised here as a validation error of the body; the
            # path in the text is what app.http.errors.validation_field names as the field.
            if question.id in seen:
                raise ValueError(
                    f"question id {question.id!r} appears twice - at `$.questions[{index}].id`"
                )
            if question.category == TOTAL:
                raise ValueError(
                    f"category {TOTAL!r} is reserved for the overall score in the breakdown - "
                    f"at `$.questions[{index}].category`"
                )
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
    # Decided on the exact ratio: 2 of 3 (66.666...%) does not pass a mark of 66.67.
    passed = maximum > 0 and total * 100 >= assessment.passMark * maximum
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
        passStatus=None if pending else passed,
        pendingManualGrading=pending,
        createdAt=created_at,
        updatedAt=updated_at,
    )


def matches(correct: Any, response: Any) -> bool:
    """Whether a response is the correct answer. A response `{"answer": x}` (document 001's
    example) is judged by `x`. Text ignores case, accents' composition and spacing. A numeric
    correct answer compares by value (to 12 significant digits), also with a response sent as
    text; a textual one compares as text, so "02134" is not 2134. A list of correct answers
    matches the same items in any order (multiple choice). Objects compare as JSON."""
    if isinstance(response, dict) and "answer" in response and not isinstance(correct, dict):
        response = response["answer"]
    if isinstance(correct, list) and isinstance(response, list):
        if len(correct) != len(response):
            return False
        pairs = zip(sorted(correct, key=_text_key), sorted(response, key=_text_key), strict=True)
        return all(_matches_one(want, got) for want, got in pairs)
    return _matches_one(correct, response)


def _matches_one(correct: Any, response: Any) -> bool:
    if _is_number(correct):
        got = _number(response)
        return got is not None and _same_number(float(correct), got)
    if isinstance(correct, str) and (isinstance(response, str) or _is_number(response)):
        return _text(correct) == _text(str(response))
    if isinstance(correct, dict | list) or isinstance(response, dict | list):
        return _json(correct) == _json(response)
    return type(correct) is type(response) and bool(correct == response)


_NUMERIC_TEXT: Final = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    if _is_number(value):
        number = float(value)
    elif isinstance(value, str) and _NUMERIC_TEXT.match(value):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _same_number(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).casefold().split())


def _text_key(value: Any) -> str:
    """A sort key that puts equal items of two lists at the same place."""
    number = _number(value)
    if number is not None and not isinstance(value, str):
        return f"n:{number:.12g}"
    if isinstance(value, str):
        return "n:" + format(number, ".12g") if number is not None else "s:" + _text(value)
    return "j:" + _json(value)


def _json(value: Any) -> str:
    return msgspec.json.encode(value, order="sorted").decode()


def _percent(part: float, whole: float) -> float:
    return _round(100 * part / whole) if whole else 0.0


def _round(value: float) -> float:
    return round(value, 2)
