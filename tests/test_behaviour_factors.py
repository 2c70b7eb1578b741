"""Unit tests of each behaviour factor's rule on small, hand-made inputs, and of their settings."""

from __future__ import annotations

import hashlib
import math

import msgspec
import numpy as np
import pytest

from actors.behaviour import collaboration, exact_timing, similarity
from actors.behaviour.answer_sheet import AnswerSheet
from actors.behaviour.answer_sheet import fold as fold_answer
from actors.behaviour.config import BehaviourConfig
from actors.behaviour.findings import MAX_EVIDENCE, Factor, FactorConfig, found
from actors.behaviour.moments import bernoulli_sum_tail, coefficient_of_variation, poisson_tail
from actors.behaviour.observations import (
    AnswerSeen,
    answer_key,
    answer_seen,
    answer_text,
)

# --- settings ----------------------------------------------------------------------------------


def test_the_measured_factors_are_on_by_default_with_document_001s_penalty() -> None:
    # On where benchmarks/behaviour.py measured under 1% of honest candidates losing points
    # (README, "Behaviour evidence"); typing costs the honest who draft elsewhere and paste.
    config = BehaviourConfig()
    penalties = {
        name: (getattr(config, name).enabled, getattr(config, name).penalty)
        for name in config.__struct_fields__
    }
    assert penalties == {
        "bot_like": (True, 30),
        "typing": (False, 5),
        "exact_timing": (True, 10),
        "answer_patterns": (True, 10),
        "similarity": (True, 20),
        "collaboration": (True, 25),
        "vpn_proxy": (True, 10),
    }


def test_settings_come_from_toml_tables_and_a_typo_names_its_path() -> None:
    loaded = msgspec.toml.decode(
        b"[bot_like]\nenabled = true\nuntrusted_min = 50\n[typing]\npenalty = 7\n",
        type=BehaviourConfig,
    )
    assert loaded.bot_like.enabled and loaded.bot_like.untrusted_min == 50
    assert loaded.typing.penalty == 7 and not loaded.typing.enabled
    with pytest.raises(
        msgspec.ValidationError, match=r"unknown field `untrusted_mn` - at `\$.bot_like`"
    ):
        msgspec.toml.decode(b"[bot_like]\nuntrusted_mn = 5\n", type=BehaviourConfig)
    with pytest.raises(msgspec.ValidationError, match=r"at `\$.collaboration.max_chance`"):
        msgspec.toml.decode(b"[collaboration]\nmax_chance = 0\n", type=BehaviourConfig)


def test_a_finding_costs_points_only_while_its_factor_is_on() -> None:
    factor = Factor(name="F", check="F_CHECK")
    off = found(FactorConfig(penalty=10), factor, "rule", [3, 1, 3])
    on = found(FactorConfig(enabled=True, penalty=10), factor, "rule", [3, 1, 3])
    assert (on.factor, on.check) == ("F", "F_CHECK")
    assert (off.points, off.counted) == (-10, False)
    assert (on.points, on.counted) == (-10, True)
    assert on.offsets == [1, 3] and on.measures == {"evidenceEvents": 2.0}
    many = found(FactorConfig(), factor, "rule", list(range(500)))
    assert len(many.offsets) == MAX_EVIDENCE and many.measures["evidenceEvents"] == 500


# --- shared arithmetic and observations --------------------------------------------------------


def test_the_coefficient_of_variation_is_exact_from_integer_sums() -> None:
    samples = [100, 120, 80, 300]
    cv = coefficient_of_variation(4, sum(samples), sum(s * s for s in samples))
    mean = sum(samples) / 4
    assert cv == pytest.approx(math.sqrt(sum((s - mean) ** 2 for s in samples) / 4) / mean)
    assert coefficient_of_variation(1, 100, 10_000) is None
    assert coefficient_of_variation(3, 300, 30_000) == 0.0


def test_the_bernoulli_sum_tail_is_exact() -> None:
    chances = [0.5, 0.2, 0.9, 0.05]
    # P(at least 3 of 4) by enumeration.
    exact = 0.0
    for outcome in range(16):
        hits = [bool(outcome >> i & 1) for i in range(4)]
        if sum(hits) >= 3:
            exact += math.prod(p if hit else 1 - p for p, hit in zip(chances, hits, strict=True))
    assert bernoulli_sum_tail(chances, 3) == pytest.approx(exact, rel=1e-12)
    assert bernoulli_sum_tail(chances, 0) == 1.0 and bernoulli_sum_tail(chances, 5) == 0.0
    assert bernoulli_sum_tail([0.2] * 6, 6) == pytest.approx(0.2**6)
    # Past the exact limit: the Poisson tail, which is never smaller there.
    many = [0.5] * 401
    assert bernoulli_sum_tail(many, 250) == poisson_tail(250, 200.5)


@pytest.mark.parametrize(("observed", "expected"), [(1, 0.5), (3, 0.5), (8, 0.9), (12, 10.0)])
def test_the_poisson_tail_is_one_minus_the_cdf(observed: int, expected: float) -> None:
    cdf = sum(math.exp(-expected) * expected**k / math.factorial(k) for k in range(observed))
    assert poisson_tail(observed, expected) == pytest.approx(1 - cdf, rel=1e-9)


def test_the_poisson_tail_keeps_tiny_probabilities_and_its_edges() -> None:
    assert 0 < poisson_tail(40, 0.1) < 1e-60
    assert poisson_tail(0, 3.0) == 1.0 and poisson_tail(2, 0.0) == 0.0


def test_answer_keys_ignore_case_spacing_width_and_key_order() -> None:
    assert (
        answer_key("  Paris ")
        == answer_key("paris")
        == answer_key("\uff30\uff21\uff32\uff29\uff33")
    )  # full-width
    assert answer_key({"b": 1, "a": "X  y"}) == answer_key({"a": "x y", "b": 1})
    assert answer_key("1") != answer_key(1)
    assert answer_text({"answer": "one", "more": ["two", 3]}) == "one\ntwo"


def test_an_answer_observation_is_built_from_the_response() -> None:
    seen = answer_seen(
        offset=4, question_id="q1", response={"answer": "Paris"}, time_spent_seconds=12.3456,
        submitted_at_ms=1000, correct=True, difficulty="easy",
    )  # fmt: skip
    assert (seen.timeSpentMs, seen.text, seen.key) == (
        12346,
        "Paris",
        answer_key({"answer": "paris"}),
    )


# --- exact timing ------------------------------------------------------------------------------


def sheet_of(*times_ms: int) -> AnswerSheet:
    sheet = AnswerSheet()
    for n, ms in enumerate(times_ms, start=1):
        sheet = fold_answer(
            sheet,
            AnswerSeen(offset=n, questionId=f"q{n}", timeSpentMs=ms, submittedAtMs=0, key=""),
        )
    return sheet


def test_even_times_are_exact_timing_and_a_persons_are_not() -> None:
    config = exact_timing.ExactTimingConfig()
    script = exact_timing.finding(sheet_of(*[30_000 + 100 * (n % 3) for n in range(10)]), config)
    assert script is not None and script.offsets == list(range(1, 11))
    assert "max_cv=0.05" in script.rule and script.measures["meanSeconds"] == pytest.approx(30.09)
    person = [12_000, 95_000, 40_000, 33_000, 61_000, 20_000, 150_000, 44_000, 9_000, 70_000]
    assert exact_timing.finding(sheet_of(*person), config) is None
    assert exact_timing.finding(sheet_of(*[30_000] * 7), config) is None  # fewer than 8


def test_a_reanswered_question_counts_once_with_its_latest_time() -> None:
    sheet = sheet_of(*[30_000] * 8)
    again = AnswerSeen(offset=9, questionId="q1", timeSpentMs=300_000, submittedAtMs=0, key="")
    sheet = fold_answer(sheet, again)
    assert len(sheet.answers) == 8 and sheet.answers["q1"].offset == 9
    assert exact_timing.finding(sheet, exact_timing.ExactTimingConfig()) is None


# --- similarity --------------------------------------------------------------------------------

SOURCE = (
    "The mitochondrion is the powerhouse of the cell. It produces adenosine triphosphate through "
    "oxidative phosphorylation, using the electron transport chain embedded in its inner "
    "membrane, and it keeps its own small circular genome inherited from the mother alone."
)


def similarity_of(corpus: similarity.Corpus, *answers: str) -> similarity.SimilarityState:
    state = similarity.SimilarityState()
    for n, text in enumerate(answers, start=1):
        seen = AnswerSeen(
            offset=n, questionId=f"q{n}", timeSpentMs=1, submittedAtMs=0, key="", text=text
        )
        state = similarity.fold(state, seen, corpus)
    return state


def test_a_lightly_edited_copy_of_a_source_is_found_and_own_words_are_not() -> None:
    config = similarity.SimilarityConfig()
    corpus = similarity.build_corpus({"biology-notes.txt": SOURCE, "other.txt": "nothing alike"})
    copied = SOURCE.replace("powerhouse", "power station").upper()
    own = (
        "Mitochondria make most of a cell's energy. I remember that they burn sugar with oxygen "
        "and pump protons across a folded membrane, which drives an enzyme that builds ATP; they "
        "also carry a little DNA of their own, passed down from mothers."
    )
    quoting = "As the book says, the mitochondrion is the powerhouse of the cell. " + own
    state = similarity_of(corpus, own, copied, quoting)
    result = similarity.finding(state, config)
    assert result is not None
    assert result.questionIds == ["q2"] and result.offsets == [2]
    assert "biology-notes.txt" in result.rule and result.measures["bestContainment"] >= 0.5


def test_short_answers_are_never_compared() -> None:
    corpus = similarity.build_corpus({"s": SOURCE})
    state = similarity_of(corpus, "The mitochondrion is the powerhouse of the cell.")
    assert similarity.finding(state, similarity.SimilarityConfig()) is None


def test_shingle_hashes_are_stable_across_processes() -> None:
    # A snapshot restored in another process must compare the same: no salted hash().
    digest = hashlib.blake2b(b"one two three four five", digest_size=8).digest()
    words, hashed = similarity.shingles("One, two THREE four five!")
    assert (words, hashed) == (5, frozenset({int.from_bytes(digest, "big")}))


# --- collaboration -----------------------------------------------------------------------------


def answers(*entries: tuple[str, str, bool, int]) -> AnswerSheet:
    sheet = AnswerSheet()
    for n, (qid, key, correct, at) in enumerate(entries, start=1):
        sheet = fold_answer(
            sheet,
            AnswerSeen(
                offset=n, questionId=qid, timeSpentMs=1, submittedAtMs=at, key=key, correct=correct
            ),
        )
    return sheet


def test_the_same_rare_wrong_answers_are_collaboration() -> None:
    config = collaboration.CollaborationConfig()
    a = answers(*[(f"q{n}", "shared", False, n * 60_000) for n in range(5)])
    b = answers(*[(f"q{n}", "shared", False, n * 60_000 + 500_000) for n in range(5)])
    # Twenty others got each question wrong, every one differently.
    cohort = collaboration.cohort_of(
        answers(*[(f"q{n}", f"own{k}", False, 0) for n in range(5)]) for k in range(20)
    )
    assert collaboration.chance_of_same_wrong(cohort, "q0", config) == pytest.approx(0.05)
    result = collaboration.finding(a, b, "other", cohort, config)
    assert result is not None and result.otherSessionId == "other"
    assert result.measures["identicalWrong"] == 5
    assert result.measures["expectedIdenticalWrong"] == pytest.approx(5 * 0.05)
    assert result.measures["chance"] == pytest.approx(0.05**5)
    assert "min_shared_wrong=3" in result.rule and "lockstep" not in result.rule
    assert result.offsets == [1, 2, 3, 4, 5]
    assert result.questionIds == [f"q{n}" for n in range(5)]
    # Without a cohort each match is priced at unknown_match=0.2: 0.2^5 is not beyond chance.
    assert collaboration.finding(a, b, "other", collaboration.Cohort(), config) is None


def test_a_misconception_the_whole_cohort_shares_is_not_collaboration() -> None:
    config = collaboration.CollaborationConfig()
    a = answers(*[(f"q{n}", "common", False, 0) for n in range(12)])
    b = answers(*[(f"q{n}", "common", False, 0) for n in range(12)])
    cohort = collaboration.cohort_of(
        [answers(*[(f"q{n}", "common", False, 0) for n in range(12)])] * 9
    )
    assert collaboration.chance_of_same_wrong(cohort, "q0", config) == 1.0
    assert collaboration.finding(a, b, "other", cohort, config) is None
    # Against a cohort too small to say, twelve identical wrong answers are evidence.
    assert collaboration.finding(a, b, "other", collaboration.Cohort(), config) is not None


def test_identical_right_answers_are_never_collaboration_alone() -> None:
    config = collaboration.CollaborationConfig()
    a = answers(*[(f"q{n}", "right", True, n * 60_000) for n in range(30)])
    b = answers(*[(f"q{n}", "right", True, n * 60_000 + 10_000) for n in range(30)])
    assert collaboration.finding(a, b, "other", collaboration.Cohort(), config) is None


def timed(times_ms: list[int], keys: list[str], correct: list[bool]) -> AnswerSheet:
    sheet = AnswerSheet()
    at = 0
    for n, (ms, key, right) in enumerate(zip(times_ms, keys, correct, strict=True), start=1):
        at += ms
        seen = AnswerSeen(
            offset=n, questionId=f"q{n}", timeSpentMs=ms, submittedAtMs=at, key=key, correct=right
        )
        sheet = fold_answer(sheet, seen)
    return sheet


def test_times_that_move_together_beyond_chance_are_collaboration_when_timing_is_on() -> None:
    rng = np.random.default_rng(7)
    questions = 20
    keys, right = ["right"] * questions, [True] * questions
    keys[4], right[4] = "odd", False  # one shared wrong answer
    cohort = collaboration.cohort_of(
        timed([int(t) for t in rng.lognormal(10.5, 0.6, questions)], keys, right) for _ in range(20)
    )
    source = [int(t) for t in rng.lognormal(10.5, 0.6, questions)]
    waiting = [t + int(rng.uniform(-3_000, 3_000)) + 8_000 for t in source]  # answers after it
    alone = [int(t) for t in rng.lognormal(10.5, 0.6, questions)]
    a, b, c = timed(source, keys, right), timed(waiting, keys, right), timed(alone, keys, right)
    on = collaboration.CollaborationConfig(timing=True)
    relayed = collaboration.finding(b, a, "source", cohort, on, comparisons=30)
    assert relayed is not None and "correlate at r = " in relayed.rule
    assert relayed.measures["timeCorrelation"] > 0.8 and relayed.measures["timedQuestions"] == 20
    assert collaboration.finding(c, a, "source", cohort, on, comparisons=30) is None
    # Off by default; then the correlation is only a measure.
    assert collaboration.finding(b, a, "source", cohort, CollaborationDefault) is None
    # And it needs the shared wrong answer.
    all_right = timed(waiting, ["right"] * questions, [True] * questions)
    assert collaboration.finding(all_right, a, "source", cohort, on, comparisons=30) is None


CollaborationDefault = collaboration.CollaborationConfig()


def test_many_comparisons_raise_the_bar() -> None:
    config = collaboration.CollaborationConfig()
    a = answers(*[(f"q{n}", f"w{n}", False, n * 600_000) for n in range(4)])
    b = answers(*[(f"q{n}", f"w{n}", False, n * 600_000 + 300_000) for n in range(4)])
    cohort = collaboration.cohort_of(
        answers(*[(f"q{n}", f"own{k}", False, 0) for n in range(4)]) for k in range(50)
    )
    assert collaboration.finding(a, b, "o", cohort, config, comparisons=1) is not None
    assert collaboration.finding(a, b, "o", cohort, config, comparisons=1000) is None
