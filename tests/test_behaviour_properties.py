"""Properties of the behaviour factors: folding one observation at a time, with the state written
to a snapshot and read back at any point, gives what a recomputation from the whole raw sequence
gives, written here independently of the factors' code (plain statistics on the raw keystroke
intervals, word tuples instead of hashes)."""

from __future__ import annotations

import math
import statistics
from typing import Any, TypeVar

import msgspec
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from actors.behaviour import (
    answer_sheet,
    bot_like,
    collaboration,
    exact_timing,
    similarity,
    typing_rhythm,
)
from actors.behaviour.observations import AnswerSeen, WindowSeen
from actors.behaviour_events import (
    BEHAVIOUR_WINDOW_DECODER,
    PAUSE_MS,
    BehaviourWindowData,
    PointerMovement,
    TextInput,
    UntrustedInput,
)
from tests.test_behaviour_support import keystroke_timing

State = TypeVar("State")

# Thresholds the generated data crosses both ways.
BOT = bot_like.BotLikeConfig(
    untrusted_min=5, regular_min_intervals=3, regular_windows_min=2, straight_windows_min=2
)
TYPING = typing_rhythm.TypingConfig(
    long_answer_chars=20, untyped_answers_min=1, rhythm_min_intervals=8, rhythm_min_tvd=0.2
)
TIMING = exact_timing.ExactTimingConfig(min_answers=3, max_cv=0.2)


class Raw(msgspec.Struct, frozen=True):
    """A window as the browser saw it, before the SDK summarised it."""

    question: str
    intervals: list[int]
    typed: int
    pasted: int
    answer_length: int
    strokes: list[tuple[float, float]]  # (path length, straightness)
    untrusted: int


raw_windows = st.builds(
    Raw,
    st.sampled_from(["q1", "q2", "q3", "q4"]),
    st.one_of(
        st.lists(
            st.one_of(st.integers(20, 400), st.integers(1, 30_000), st.sampled_from([100, 101])),
            max_size=40,
        ),
        # A script's: nearly the same interval every time.
        st.lists(st.sampled_from([100, 101, 104]), min_size=3, max_size=30),
    ),
    st.integers(0, 80),
    st.integers(0, 300),
    st.integers(0, 400),
    st.lists(st.tuples(st.floats(1, 900), st.sampled_from([1.0, 0.8, 0.95, 0.9995])), max_size=3),
    st.integers(0, 4),
)


def summarise(raw: Raw) -> BehaviourWindowData:
    """What the SDK sends for a raw window."""
    distance = sum(length for length, _ in raw.strokes)
    return BehaviourWindowData(
        windowMs=10_000,
        keys=keystroke_timing(len(raw.intervals) + 1, raw.intervals),
        text=TextInput(
            charsTyped=raw.typed,
            charsPasted=raw.pasted,
            pastes=1 if raw.pasted else 0,
            answerLength=raw.answer_length,
        ),
        pointer=PointerMovement(
            moves=len(raw.strokes) * 5,
            distancePx=distance,
            displacementPx=sum(length * bend for length, bend in raw.strokes),
            strokes=len(raw.strokes),
            movingMs=5_000 if distance else 0,
            maxSpeedPxPerS=distance,
        ),
        untrusted=UntrustedInput(keyboard=raw.untrusted),
    )


def observations(raws: list[Raw]) -> list[WindowSeen]:
    return [
        WindowSeen(offset=n + 1, questionId=raw.question, window=summarise(raw))
        for n, raw in enumerate(raws)
    ]


def fold_with_snapshot(
    fold: Any, empty: State, items: list[Any], cut: int, state_type: type[State]
) -> State:
    """Folds items[:cut], writes the state to JSON and reads it back, folds the rest."""
    state = empty
    for item in items[:cut]:
        state = fold(state, item)
    state = msgspec.json.decode(msgspec.json.encode(state), type=state_type)
    for item in items[cut:]:
        state = fold(state, item)
    return state


def fold_all(fold: Any, empty: State, items: list[Any]) -> State:
    state = empty
    for item in items:
        state = fold(state, item)
    return state


@settings(max_examples=150, deadline=None)
@given(st.lists(raw_windows, max_size=25), st.data())
def test_bot_like_folded_equals_recomputed(raws: list[Raw], data: st.DataObject) -> None:
    seen = observations(raws)
    cut = data.draw(st.integers(0, len(seen)))
    state = fold_with_snapshot(
        bot_like.fold, bot_like.BotLikeState(), seen, cut, bot_like.BotLikeState
    )
    assert state == fold_all(bot_like.fold, bot_like.BotLikeState(), seen)

    untrusted = sum(raw.untrusted for raw in raws)
    regular, straight = [], []
    for n, raw in enumerate(raws, start=1):
        burst = [i for i in raw.intervals if i < PAUSE_MS]
        if len(burst) >= BOT.regular_min_intervals:
            cv = statistics.pstdev(burst) / statistics.mean(burst)
            assume(not math.isclose(cv, BOT.regular_max_cv, abs_tol=1e-9))
            if cv <= BOT.regular_max_cv:
                regular.append(n)
        distance = sum(length for length, _ in raw.strokes)
        if distance >= BOT.straight_min_px:
            bent = sum(length * bend for length, bend in raw.strokes) / distance
            assume(not math.isclose(bent, BOT.straight_min, abs_tol=1e-9))
            if bent >= BOT.straight_min:
                straight.append(n)
    expected = (
        untrusted >= BOT.untrusted_min
        or len(regular) >= BOT.regular_windows_min
        or len(straight) >= BOT.straight_windows_min
    )
    found = bot_like.finding(state, BOT)
    assert (found is not None) is expected
    if found is not None:
        assert found.measures["untrustedEvents"] == untrusted
        assert found.measures["regularWindows"] == len(regular)
        assert found.measures["straightWindows"] == len(straight)
        if len(regular) >= BOT.regular_windows_min:
            assert set(regular) <= set(found.offsets)


@settings(max_examples=150, deadline=None)
@given(st.lists(raw_windows, max_size=25), st.data())
def test_typing_folded_equals_recomputed(raws: list[Raw], data: st.DataObject) -> None:
    seen = observations(raws)
    cut = data.draw(st.integers(0, len(seen)))
    empty = typing_rhythm.TypingState()
    state = fold_with_snapshot(typing_rhythm.fold, empty, seen, cut, typing_rhythm.TypingState)
    assert state == fold_all(typing_rhythm.fold, empty, seen)

    typed: dict[str, int] = {}
    length: dict[str, int] = {}
    for raw in raws:
        typed[raw.question] = typed.get(raw.question, 0) + raw.typed
        length[raw.question] = raw.answer_length
    untyped = sorted(
        q for q in typed if length[q] >= TYPING.long_answer_chars and typed[q] < 0.2 * length[q]
    )
    found = typing_rhythm.finding(state, TYPING)
    if untyped:
        assert found is not None and found.questionIds == untyped
        return
    # No untyped answer: a finding is a rhythm one, and its stretch really does differ.
    if found is not None:
        inside = [
            i
            for raw in raws
            if raw.question in found.questionIds
            for i in raw.intervals
            if i < PAUSE_MS
        ]
        outside = [
            i
            for raw in raws
            if raw.question not in found.questionIds
            for i in raw.intervals
            if i < PAUSE_MS
        ]
        assert min(len(inside), len(outside)) >= TYPING.rhythm_min_intervals
        assert math.isclose(found.measures["meanIntervalMs"], statistics.mean(inside))
        assert math.isclose(found.measures["otherMeanIntervalMs"], statistics.mean(outside))
        ratio = statistics.mean(inside) / statistics.mean(outside)
        assert max(ratio, 1 / ratio) >= TYPING.rhythm_mean_ratio


answers = st.builds(
    lambda q, ms, key, correct, at: AnswerSeen(
        offset=0, questionId=q, timeSpentMs=ms, submittedAtMs=at, key=key, correct=correct
    ),
    st.sampled_from([f"q{n}" for n in range(8)]),
    st.one_of(st.integers(1, 600_000), st.integers(29_000, 31_000)),
    st.sampled_from(["s:a", "s:b", "s:c", "s:42"]),
    st.sampled_from([True, False, None]),
    st.integers(0, 3_600_000),
)


def numbered(items: list[AnswerSeen]) -> list[AnswerSeen]:
    return [msgspec.structs.replace(a, offset=n) for n, a in enumerate(items, start=1)]


@settings(max_examples=150, deadline=None)
@given(st.lists(answers, max_size=30).map(numbered), st.data())
def test_exact_timing_folded_equals_recomputed(
    items: list[AnswerSeen], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(items)))
    empty = answer_sheet.AnswerSheet()
    sheet = fold_with_snapshot(answer_sheet.fold, empty, items, cut, answer_sheet.AnswerSheet)
    assert sheet == fold_all(answer_sheet.fold, empty, items)

    latest = {a.questionId: a.timeSpentMs for a in items}
    found = exact_timing.finding(sheet, TIMING)
    if len(latest) < TIMING.min_answers:
        assert found is None
        return
    cv = statistics.pstdev(latest.values()) / statistics.mean(latest.values())
    assume(not math.isclose(cv, TIMING.max_cv, abs_tol=1e-9))
    assert (found is not None) is (cv <= TIMING.max_cv)
    if found is not None:
        assert math.isclose(found.measures["cv"], cv, abs_tol=1e-12)
        assert sorted(found.questionIds) == sorted(latest)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(answers, max_size=20).map(numbered),
    st.lists(answers, max_size=20).map(numbered),
    st.integers(1, 50),
)
def test_collaboration_is_symmetric_in_what_it_finds(
    mine: list[AnswerSeen], theirs: list[AnswerSeen], comparisons: int
) -> None:
    a = fold_all(answer_sheet.fold, answer_sheet.AnswerSheet(), mine)
    b = fold_all(answer_sheet.fold, answer_sheet.AnswerSheet(), theirs)
    config = collaboration.CollaborationConfig(
        min_shared_wrong=2,
        max_chance=0.05,
        timing=True,
        timing_min_questions=4,
        timing_min_shared_wrong=0,
        min_cohort_times=1,
    )
    cohort = collaboration.cohort_of([a, b])
    ab = collaboration.finding(a, b, "b", cohort, config, comparisons=comparisons)
    ba = collaboration.finding(b, a, "a", cohort, config, comparisons=comparisons)
    assert (ab is None) is (ba is None)
    if ab is not None and ba is not None:
        assert ab.measures == ba.measures
        # More comparisons only ever make a pair less suspicious.
        fewer = collaboration.finding(a, b, "b", cohort, config, comparisons=1)
        assert fewer is not None


words = st.sampled_from("the cat sat on a mat while dogs ran far from home".split())
texts = st.lists(words, max_size=60).map(" ".join)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["q1", "q2", "q3"]), texts), max_size=8), texts)
def test_similarity_folded_equals_recomputed(entries: list[tuple[str, str]], source: str) -> None:
    items = [
        AnswerSeen(offset=n, questionId=q, timeSpentMs=1, submittedAtMs=0, key="", text=text)
        for n, (q, text) in enumerate(entries, start=1)
    ]
    corpus = similarity.build_corpus({"book": source, "other": "the cat sat on a mat"})

    def fold(state: similarity.SimilarityState, seen: AnswerSeen) -> similarity.SimilarityState:
        return similarity.fold(state, seen, corpus)

    empty = similarity.SimilarityState()
    state = fold_with_snapshot(fold, empty, items, len(items) // 2, similarity.SimilarityState)
    assert state == fold_all(fold, empty, items)

    config = similarity.SimilarityConfig(min_words=5, min_containment=0.5)
    found = similarity.finding(state, config)

    def grams(text: str) -> set[tuple[str, ...]]:
        w = text.split()
        return {tuple(w[i : i + 5]) for i in range(len(w) - 4)}

    latest = {q: text for q, text in entries}
    expected = sorted(
        q
        for q, text in latest.items()
        if len(text.split()) >= 5
        and grams(text)
        and any(
            len(grams(text) & grams(doc)) / len(grams(text)) >= 0.5
            for doc in (source, "the cat sat on a mat")
        )
    )
    assert (found.questionIds if found else []) == expected


@settings(max_examples=200, deadline=None)
@given(raw_windows)
def test_a_summarised_window_survives_the_wire(raw: Raw) -> None:
    data = summarise(raw)
    assert BEHAVIOUR_WINDOW_DECODER.decode(msgspec.json.encode(data)) == data
