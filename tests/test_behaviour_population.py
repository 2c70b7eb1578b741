"""Honest synthetic candidates give no finding; each kind of cheater gives the one it should.

The populations are small so the file runs in seconds; benchmarks/behaviour.py measures the
rates on a thousand through the real socket. The thresholds are document-level defaults, not
tuned to these generators: a failure here means a factor or a generator is wrong.
"""

from __future__ import annotations

import itertools

import pytest

from actors.behaviour import answer_patterns, bot_like, collaboration, exact_timing, typing_rhythm
from actors.behaviour.answer_sheet import AnswerSheet
from actors.behaviour.config import BehaviourConfig
from actors.behaviour.findings import Finding
from tests.test_behaviour_support import (
    Session,
    honest_writer,
    paste_everything,
    script,
    second_typist,
)
from tests.test_behaviour_support_graded import assessment, copier, fed_answers, honest_answers

CONFIG = BehaviourConfig()
HONEST = range(60)
CHEATERS = range(12)


def window_findings(session: Session) -> dict[str, Finding | None]:
    bots, typing = bot_like.BotLikeState(), typing_rhythm.TypingState()
    for seen in session.windows:
        bots = bot_like.fold(bots, seen)
        typing = typing_rhythm.fold(typing, seen)
    sheet = session.sheet()
    return {
        "bot_like": bot_like.finding(bots, CONFIG.bot_like),
        "typing": typing_rhythm.finding(typing, CONFIG.typing),
        "exact_timing": exact_timing.finding(sheet, CONFIG.exact_timing),
        "answer_patterns": answer_patterns.finding(sheet, CONFIG.answer_patterns),
    }


def fired(findings: dict[str, Finding | None]) -> set[str]:
    return {name for name, finding in findings.items() if finding is not None}


@pytest.mark.parametrize("seed", HONEST)
def test_an_honest_writer_gives_no_finding(seed: int) -> None:
    assert fired(window_findings(honest_writer(seed))) == set()


@pytest.mark.parametrize("seed", CHEATERS)
def test_pasting_every_answer_is_typing_inconsistency(seed: int) -> None:
    findings = window_findings(paste_everything(seed))
    assert fired(findings) == {"typing"}
    typing = findings["typing"]
    assert typing is not None and "untyped_answers_min" in typing.rule
    assert typing.questionIds and typing.offsets


@pytest.mark.parametrize("seed", CHEATERS)
@pytest.mark.parametrize("untrusted", [True, False])
def test_a_script_is_bot_like_and_exactly_timed(seed: int, untrusted: bool) -> None:
    findings = window_findings(script(seed, untrusted=untrusted))
    assert {"bot_like", "exact_timing"} <= fired(findings)
    bot = findings["bot_like"]
    assert bot is not None
    assert ("untrusted_min" in bot.rule) is untrusted
    assert "regular_max_cv" in bot.rule and "straight_min" in bot.rule
    assert bot.points == -30 and bot.counted is True  # on: measured (benchmarks/behaviour.py)


@pytest.mark.parametrize("seed", CHEATERS)
def test_a_second_typist_is_typing_inconsistency(seed: int) -> None:
    findings = window_findings(second_typist(seed))
    assert fired(findings) == {"typing"}
    typing = findings["typing"]
    assert typing is not None and "rhythm_mean_ratio" in typing.rule
    # The stretch found is the second typist's, w4 to w7, or lies inside it.
    assert set(typing.questionIds) <= {"w4", "w5", "w6", "w7"}


ITEMS = assessment()


@pytest.mark.parametrize("seed", HONEST)
def test_honest_graded_answers_show_no_pattern(seed: int) -> None:
    assert fired(window_findings(honest_answers(seed, ITEMS))) == set()


@pytest.mark.parametrize("seed", CHEATERS)
def test_answers_fed_for_the_hard_questions_are_an_unusual_pattern(seed: int) -> None:
    assert fired(window_findings(fed_answers(seed, ITEMS))) == {"answer_patterns"}


def _sheets(sessions: list[Session]) -> list[AnswerSheet]:
    return [s.sheet() for s in sessions]


def test_no_two_honest_candidates_of_a_cohort_are_collaborators() -> None:
    sheets = _sheets([honest_answers(seed, ITEMS) for seed in range(40)])
    for i, j in itertools.combinations(range(len(sheets)), 2):
        others = collaboration.cohort_of(s for k, s in enumerate(sheets) if k not in (i, j))
        found = collaboration.finding(
            sheets[i],
            sheets[j],
            f"s{j}",
            others,
            CONFIG.collaboration,
            comparisons=len(sheets) - 1,
        )
        assert found is None, (i, j, found)


@pytest.mark.parametrize("seed", CHEATERS)
def test_a_copying_pair_is_found_with_the_other_session_named(seed: int) -> None:
    # One hands every answer to the other. Evidence of copying is in the wrong answers, so the
    # source here gets a third or so wrong: a pair sharing only right answers cannot be told
    # from two people who know the material (docs/behaviour.md has the rates for partial copying).
    cohort_sessions = [honest_answers(100 + k, ITEMS) for k in range(30)]
    source = honest_answers(500 + seed, ITEMS, ability=-0.5 + seed / 24)
    pair = copier(source, 900 + seed, ITEMS, share=1.0)
    cohort = collaboration.cohort_of(_sheets(cohort_sessions))
    found = collaboration.finding(
        pair.sheet(),
        source.sheet(),
        "source",
        cohort,
        CONFIG.collaboration,
        comparisons=len(cohort_sessions) + 1,
    )
    assert found is not None
    assert found.otherSessionId == "source" and found.points == -25
    assert "min_shared_wrong" in found.rule and "lockstep" not in found.rule
    assert found.offsets and set(found.offsets) <= {a.offset for a in pair.answers}
