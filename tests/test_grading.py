"""Grading (document 001's CandidateAnswer scores and ScoreSummary), pure: no server, no clock."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors.grading import (
    TOTAL,
    Assessment,
    AssessmentDefinition,
    CategoryScore,
    Grade,
    Question,
    grade,
    matches,
    summarize_scores,
)

CREATED = "2024-01-15T10:00:00.000Z"
SUBMITTED = "2024-01-15T11:00:00.000Z"
GRADED = "2024-01-15T12:00:00.000Z"


def assessment(questions: list[dict[str, Any]], pass_mark: float = 50.0) -> Assessment:
    return msgspec.convert(
        {"id": "exam", "questions": questions, "passMark": pass_mark, "createdAt": CREATED},
        Assessment,
    )


def summary_of(
    exam: Assessment, answers: dict[str, Any], manual: dict[str, float] | None = None
) -> Any:
    return summarize_scores("s1", exam, answers, manual or {}, SUBMITTED, GRADED)


# --- matches -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("correct", "response"),
    [
        ("Paris", "paris"),
        ("Paris", "  PARIS "),
        ("New York", "new    york"),
        ("New York", "\tNew\nYork "),
        ("Café", "cafe\u0301"),  # the same text, composed and decomposed
        ("Paris", {"answer": "paris"}),  # document 001's response shape
        ("Paris", {"answer": "Paris", "confidence": 0.9}),
        (42, "42"),
        ("42", 42),
        (42, 42.0),
        (0.5, " .5 "),
        (1000, "1e3"),
        (42, {"answer": "42"}),
        (["a", "b"], ["b", "a"]),
        (["a", "b"], ["B", " a"]),
        ([1, 2], ["2", 1]),
        (["a", "b"], {"answer": ["b", "a"]}),
        (True, True),
        (False, False),
        (False, {"answer": False}),
        ({"x": 1, "y": [1, 2]}, {"y": [1, 2], "x": 1}),  # JSON, key order aside
        ({"answer": "a"}, {"answer": "a"}),  # a dict correct answer is not unwrapped
        ("42", 42),  # a textual answer compares as text, a number as its text
        (0.3, 0.1 + 0.2),  # numbers compare to 12 significant digits
        (1000, "1e3"),
        (["a", "a", "b"], ["a", "b", "A"]),  # the same items, counted, in any order
    ],
)
def test_matching_answers(correct: Any, response: Any) -> None:
    assert matches(correct, response)


@pytest.mark.parametrize(
    ("correct", "response"),
    [
        ("Paris", "London"),
        ("Paris", "Par is"),
        ("New York", "NewYork"),
        ("Paris", {"reply": "Paris"}),  # only "answer" is unwrapped
        ("Paris", None),
        (42, "42.5"),
        (42, "forty-two"),
        (42, [42]),
        (True, 1),  # a boolean is never a number
        (False, 0),
        (1, True),
        (0, False),
        (True, "true"),
        (True, None),
        (False, None),
        (["a", "b"], ["a"]),
        (["a", "b"], ["a", "b", "c"]),
        (["a", "b"], "a"),
        ({"x": 1}, {"x": 2}),
        ({"x": 1}, {"x": 1, "y": 2}),
        ({"x": "A"}, {"x": "a"}),  # inside a dict, JSON equality: case counts
        ({"answer": "a"}, "a"),  # a dict correct answer is compared whole
        ("02134", 2134),  # a code is text: its leading zero matters
        ("02134", "2134"),
        ("1.10", "1.1"),
        (1000, "1_000"),  # Python's float() accepts this; an answer key does not
        (["a", "a"], ["a"]),
    ],
)
def test_non_matching_answers(correct: Any, response: Any) -> None:
    assert not matches(correct, response)


# --- grade -------------------------------------------------------------------------------------


def test_an_auto_graded_correct_answer_scores_the_maximum() -> None:
    question = Question(
        id="q1", category="technical", maxScore=20, correctAnswer="Paris", difficulty="easy"
    )
    assert grade(question, {"answer": " paris"}, None) == Grade(
        score=20, maxScore=20, percentage=100, difficulty="easy", category="technical",
        scoringMethod="auto",
    )  # fmt: skip


def test_an_auto_graded_wrong_answer_scores_0_and_a_reviewer_cannot_change_it() -> None:
    question = Question(id="q1", maxScore=4, correctAnswer=[1, 2])
    assert grade(question, [1], manual_score=4) == Grade(
        score=0, maxScore=4, percentage=0, difficulty=None, category="general",
        scoringMethod="auto",
    )  # fmt: skip


def test_a_false_correct_answer_is_auto_graded() -> None:
    question = Question(id="q1", correctAnswer=False)
    assert question.auto_graded
    assert grade(question, False, None).score == 1.0  # maxScore defaults to 1
    assert grade(question, 0, None).score == 0


def test_a_manual_question_waits_for_a_reviewer() -> None:
    question = Question(id="essay", category="behavioral", maxScore=30, difficulty="hard")
    assert not question.auto_graded
    assert grade(question, "my essay", None) == Grade(
        score=None, maxScore=30, percentage=None, difficulty="hard", category="behavioral",
        scoringMethod="manual",
    )  # fmt: skip


def test_a_manual_question_takes_the_reviewers_score() -> None:
    question = Question(id="essay", category="behavioral", maxScore=30)
    # 25 / 30 = 83.333... -> 83.33
    assert grade(question, "my essay", 25) == Grade(
        score=25, maxScore=30, percentage=83.33, difficulty=None, category="behavioral",
        scoringMethod="manual",
    )  # fmt: skip


# --- summarize_scores --------------------------------------------------------------------------

# Document 001's "Score Breakdown Example": technical 45/50, behavioral 38/50, total 83/100.
DOCUMENT_001 = [
    {"id": "t1", "category": "technical", "maxScore": 20, "correctAnswer": "Paris"},
    {"id": "t2", "category": "technical", "maxScore": 25, "correctAnswer": 42},
    {"id": "t3", "category": "technical", "maxScore": 5, "correctAnswer": ["a", "b"]},
    {"id": "b1", "category": "behavioral", "maxScore": 40},  # graded by hand
    {"id": "b2", "category": "behavioral", "maxScore": 10, "correctAnswer": True},
]
DOCUMENT_001_ANSWERS = {
    "t1": {"answer": "paris"},  # 20
    "t2": "42",  # 25
    "t3": ["a"],  # 0: half a multiple choice is wrong
    "b1": "I would listen first.",  # 28, by hand
    "b2": True,  # 10
}


def test_the_score_breakdown_of_document_001() -> None:
    exam = assessment(DOCUMENT_001, pass_mark=70)
    summary = summary_of(exam, DOCUMENT_001_ANSWERS, {"b1": 28})
    # technical: 20 + 25 + 0 = 45 of 20 + 25 + 5 = 50 -> 90%
    # behavioral: 28 + 10 = 38 of 40 + 10 = 50 -> 76%
    # total: 45 + 38 = 83 of 100 -> 83%
    assert summary.breakdown == {
        "technical": CategoryScore(score=45, max=50, percentage=90),
        "behavioral": CategoryScore(score=38, max=50, percentage=76),
        TOTAL: CategoryScore(score=83, max=100, percentage=83),
    }
    assert list(summary.breakdown) == ["technical", "behavioral", "total"]  # document order
    assert msgspec.to_builtins(summary) == {
        "id": "s1:score",
        "sessionId": "s1",
        "assessmentId": "exam",
        "totalScore": 83,
        "maxPossibleScore": 100,
        "percentage": 83,
        "breakdown": {
            "technical": {"score": 45, "max": 50, "percentage": 90},
            "behavioral": {"score": 38, "max": 50, "percentage": 76},
            "total": {"score": 83, "max": 100, "percentage": 83},
        },
        "passMark": 70,
        "passStatus": True,  # 83 >= 70
        "pendingManualGrading": 0,
        "createdAt": SUBMITTED,
        "updatedAt": GRADED,
    }


def test_unanswered_questions_score_0_but_count_in_the_maximum() -> None:
    exam = assessment(DOCUMENT_001)
    summary = summary_of(exam, {"t2": 42})
    # only t2 answered: 25 of 100; technical 25/50 = 50%, behavioral 0/50 = 0%
    assert summary.breakdown == {
        "technical": CategoryScore(score=25, max=50, percentage=50),
        "behavioral": CategoryScore(score=0, max=50, percentage=0),
        TOTAL: CategoryScore(score=25, max=100, percentage=25),
    }
    # b1, the manual question, was not answered: nothing waits for a reviewer
    assert (summary.pendingManualGrading, summary.passStatus) == (0, False)  # 25 < 50


def test_nothing_answered_scores_0_and_fails() -> None:
    summary = summary_of(assessment(DOCUMENT_001), {})
    assert (summary.totalScore, summary.maxPossibleScore, summary.percentage) == (0, 100, 0)
    assert summary.passStatus is False


def test_a_score_for_an_unanswered_manual_question_does_not_count() -> None:
    summary = summary_of(assessment(DOCUMENT_001), {"t2": 42}, {"b1": 40})
    assert summary.totalScore == 25  # t2 only


def test_pass_status_is_none_while_a_manual_answer_waits_for_a_reviewer() -> None:
    exam = assessment(DOCUMENT_001)
    waiting = summary_of(exam, DOCUMENT_001_ANSWERS)
    # everything but b1: 20 + 25 + 0 + 10 = 55; b1 counts 0 until graded
    assert (waiting.totalScore, waiting.percentage) == (55, 55)
    assert waiting.breakdown["behavioral"] == CategoryScore(score=10, max=50, percentage=20)
    assert (waiting.passStatus, waiting.pendingManualGrading) == (None, 1)
    # A zero from the reviewer is a grade, not "waiting".
    graded = summary_of(exam, DOCUMENT_001_ANSWERS, {"b1": 0})
    assert (graded.totalScore, graded.passStatus, graded.pendingManualGrading) == (55, True, 0)


def test_every_waiting_manual_answer_is_counted() -> None:
    exam = assessment([{"id": "e1"}, {"id": "e2"}, {"id": "e3"}])
    summary = summary_of(exam, {"e1": "a", "e2": "b", "e3": "c"}, {"e2": 1})
    assert (summary.pendingManualGrading, summary.passStatus, summary.totalScore) == (2, None, 1)


@pytest.mark.parametrize(
    ("pass_mark", "passes"),
    [
        (75, True),  # 3 of 4 = 75%: the pass mark itself passes
        (74.99, True),
        (75.01, False),
        (0, True),
        (100, False),
    ],
)
def test_the_pass_mark_boundary(pass_mark: float, passes: bool) -> None:
    exam = assessment(
        [{"id": f"q{n}", "correctAnswer": "yes"} for n in range(4)], pass_mark=pass_mark
    )
    summary = summary_of(exam, {"q0": "yes", "q1": "yes", "q2": "yes", "q3": "no"})
    assert summary.percentage == 75 and summary.passStatus is passes


def test_a_manual_score_decides_the_pass_at_the_boundary() -> None:
    exam = assessment([{"id": "essay", "maxScore": 10}], pass_mark=60)
    assert summary_of(exam, {"essay": "x"}, {"essay": 6}).passStatus is True  # 60% == 60
    assert summary_of(exam, {"essay": "x"}, {"essay": 5.99}).passStatus is False  # 59.9%


def test_percentages_are_rounded_to_two_places() -> None:
    exam = assessment([{"id": "q1", "maxScore": 3, "correctAnswer": 1}, {"id": "q2"}])
    summary = summary_of(exam, {"q1": 1, "q2": "x"}, {"q2": 0.5})
    # 3 + 0.5 = 3.5 of 3 + 1 = 4 -> 87.5%; the single category "general" is the total
    assert summary.breakdown == {
        "general": CategoryScore(score=3.5, max=4, percentage=87.5),
        TOTAL: CategoryScore(score=3.5, max=4, percentage=87.5),
    }
    thirds = summary_of(assessment([{"id": "q1", "maxScore": 3}]), {"q1": "x"}, {"q1": 1})
    assert thirds.percentage == 33.33  # 1 / 3 = 33.333...


# --- the definition ----------------------------------------------------------------------------


def test_a_definition_fills_in_its_defaults() -> None:
    definition = msgspec.convert({"id": "exam", "questions": [{"id": "q1"}]}, AssessmentDefinition)
    assert definition.passMark == 50 and definition.title == ""
    assert definition.questions == [
        Question(id="q1", category="general", maxScore=1, correctAnswer=None, difficulty=None)
    ]
    assert definition.question("q1") is definition.questions[0]
    assert definition.question("q2") is None


def test_duplicate_question_ids_are_refused() -> None:
    body = {"id": "exam", "questions": [{"id": "q1"}, {"id": "q2"}, {"id": "q1"}]}
    with pytest.raises(msgspec.ValidationError, match=r"question id 'q1' appears twice"):
        msgspec.convert(body, AssessmentDefinition)
    with pytest.raises(msgspec.ValidationError, match=r"questions\[2\]"):
        msgspec.convert({**body, "createdAt": CREATED}, Assessment)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"id": "exam", "questions": []}, r"\$\.questions"),
        ({"id": "exam", "questions": [{"id": "q1", "maxScore": 0}]}, r"questions\[0\]\.maxScore"),
        ({"id": "exam", "questions": [{"id": "q1", "maxScore": -1}]}, r"questions\[0\]\.maxScore"),
        ({"id": "exam", "questions": [{"id": ""}]}, r"questions\[0\]\.id"),
        ({"id": "exam", "questions": [{"id": "q1", "category": ""}]}, r"\.category"),
        ({"id": "exam", "questions": [{"id": "q1"}], "passMark": 100.5}, r"\$\.passMark"),
        ({"id": "exam", "questions": [{"id": "q1"}], "passMark": -1}, r"\$\.passMark"),
        ({"id": "an exam", "questions": [{"id": "q1"}]}, r"\$\.id"),
        ({"id": "exam", "questions": [{"id": "q1", "points": 3}]}, r"unknown field `points`"),
    ],
)
def test_bad_definitions_are_refused_with_a_path(body: dict[str, Any], path: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=path):
        msgspec.convert(body, AssessmentDefinition)


def test_the_pass_is_decided_on_the_exact_ratio_not_the_rounded_percentage() -> None:
    assessment = Assessment(
        id="thirds",
        questions=[Question(id=f"q{i}", correctAnswer="x") for i in range(3)],
        passMark=66.67,
        createdAt="2026-11-22T10:00:00.000Z",
    )
    summary = summarize_scores("s", assessment, {"q0": "x", "q1": "x"}, {}, "t", "t")
    assert summary.percentage == 66.67  # shown rounded ...
    assert summary.passStatus is False  # ... but 2/3 = 66.666...% is below the mark


def test_the_category_total_is_reserved_for_the_breakdown() -> None:
    body = {"id": "a", "questions": [{"id": "q1"}, {"id": "q2", "category": "total"}]}
    with pytest.raises(msgspec.ValidationError, match=r"reserved.*questions\[1\]\.category"):
        msgspec.convert(body, AssessmentDefinition)
