"""Unusual answer patterns equal a recount from the answers, on inputs that cross the rule both
ways."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.behaviour import answer_patterns, answer_sheet
from actors.behaviour.observations import AnswerSeen
from tests.test_behaviour_properties import fold_all, numbered

graded = st.builds(
    lambda q, ms, correct, level: AnswerSeen(
        offset=0,
        questionId=q,
        timeSpentMs=ms,
        submittedAtMs=0,
        key="",
        correct=correct,
        difficulty=level,
    ),
    st.sampled_from([f"q{n}" for n in range(12)]),
    st.one_of(st.integers(500, 6_000), st.integers(1, 300_000)),
    st.sampled_from([True, True, False, None]),
    st.sampled_from(["easy", "Hard", "hard", "medium", None]),
)


# The pattern's two halves, so that both outcomes are common.
fed = st.one_of(
    st.builds(
        lambda q, ms: AnswerSeen(
            offset=0,
            questionId=q,
            timeSpentMs=ms,
            submittedAtMs=0,
            key="",
            correct=True,
            difficulty="hard",
        ),
        st.sampled_from([f"h{n}" for n in range(5)]),
        st.integers(500, 6_000),
    ),
    st.builds(
        lambda q: AnswerSeen(
            offset=0,
            questionId=q,
            timeSpentMs=30_000,
            submittedAtMs=0,
            key="",
            correct=False,
            difficulty="easy",
        ),
        st.sampled_from([f"e{n}" for n in range(5)]),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(graded, fed), max_size=40).map(numbered))
def test_answer_patterns_equal_a_recount(items: list[AnswerSeen]) -> None:
    config = answer_patterns.AnswerPatternsConfig(min_fast_hard=2, min_graded=2)
    sheet = fold_all(answer_sheet.fold, answer_sheet.AnswerSheet(), items)
    latest = {a.questionId: a for a in items}
    hard = [
        a for a in latest.values() if a.correct is not None and a.difficulty in ("hard", "Hard")
    ]
    easy = [a for a in latest.values() if a.correct is not None and a.difficulty == "easy"]
    fast = [a for a in hard if a.correct and a.timeSpentMs < 5_000]
    expected = (
        len(fast) >= 2
        and len(hard) >= 2
        and len(easy) >= 2
        and sum(a.correct for a in hard) * len(easy) - sum(a.correct for a in easy) * len(hard)
        >= 0.2 * len(hard) * len(easy) - 1e-9
    )
    found = answer_patterns.finding(sheet, config)
    assert (found is not None) is expected
    if found is not None:
        assert {a.offset for a in fast} <= set(found.offsets)
