"""The population of benchmarks/behaviour.py: each candidate as the events the SDK would send,
built from the committed generators of the behaviour tests (tests/test_behaviour_support*.py),
plus the answers' text, the connection (forwarding headers, time zone) and network cuts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import numpy as np

from tests.test_behaviour_support import (
    WRITTEN,
    Session,
    honest_writer,
    paste_everything,
    script,
    second_typist,
)
from tests.test_behaviour_support_graded import (
    Item,
    assessment,
    copier,
    fed_answers,
    honest_answers,
)

KINDS: Final = (
    "honest", "paste_everything", "script", "script_untrusted", "second_typist", "fed_answers",
    "pair_source", "pair_copier", "vpn",
)  # fmt: skip
# check -> document 001's name, in document 001's order
CHECKS: Final = {
    "TYPING_INCONSISTENCY": "Typing speed inconsistency",
    "UNUSUAL_ANSWER_PATTERNS": "Unusual answer patterns",
    "EXACT_TIMING": "Consistent exact timing",
    "VPN_PROXY": "VPN/proxy detected",
    "SOURCE_SIMILARITY": "Answer similarity to known sources",
    "COLLABORATION": "Collaboration detected",
    "BOT_LIKE": "Bot-like behavior",
}
# check -> the cheater kinds it is meant to catch
TARGETS: Final = {
    "TYPING_INCONSISTENCY": {"paste_everything", "second_typist"},
    "UNUSUAL_ANSWER_PATTERNS": {"fed_answers"},
    "EXACT_TIMING": {"script", "script_untrusted"},
    "VPN_PROXY": {"vpn"},
    "SOURCE_SIMILARITY": {"paste_everything"},
    "COLLABORATION": {"pair_source", "pair_copier"},
    "BOT_LIKE": {"script", "script_untrusted"},
}
NOW_MS: Final = round(datetime.now(UTC).timestamp() * 1000)
HOME_ZONE, AWAY_ZONE = "Europe/Berlin", "America/New_York"
VPN_RANGE: Final = "203.0.113.0/24"
_VOCABULARY: Final = tuple(
    "".join(
        np.random.default_rng(7_000 + i).choice(
            ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "an", "el", "or"], 3
        )
    )
    + str(i % 97)
    for i in range(3_000)
)


@dataclass
class Plan:
    index: int
    kind: str
    events: list[dict[str, Any]] = field(default_factory=list)  # without their seq
    headers: dict[str, str] = field(default_factory=dict)
    cut_at: int | None = None  # the socket drops after this seq; the rest is resent
    drafts_elsewhere: bool = False  # honest, but pastes each answer from their own editor


def corpus_text() -> str:
    rng = np.random.default_rng(99)
    return " ".join(str(w) for w in rng.choice(_VOCABULARY, 6_000))


def vpn_list() -> str:
    return f"# a VPN provider's exits (documentation range)\n{VPN_RANGE}\n"


def _prose(rng: np.random.Generator, chars: int, quote: bool) -> str:
    words = [str(w) for w in rng.choice(_VOCABULARY, max(3, chars // 7))]
    if quote:  # a sentence of the source, quoted in one's own answer
        corpus = corpus_text().split()
        start = int(rng.integers(0, len(corpus) - 15))
        at = int(rng.integers(0, len(words)))
        words[at:at] = corpus[start : start + 15]
    return " ".join(words)


def _copied(rng: np.random.Generator, chars: int) -> str:
    corpus = corpus_text().split()
    count = max(40, chars // 7)
    start = int(rng.integers(0, len(corpus) - count))
    return " ".join(corpus[start : start + count])


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _events(
    rng: np.random.Generator, writer: Session, graded: Session, *, copied: bool, zone: str
) -> list[dict[str, Any]]:
    # The sitting began a few minutes ago: a candidate token outlives its session by only
    # `[auth] candidate_token_grace_seconds`, and the server keeps the candidate's clock.
    clock = NOW_MS - 40 * 60_000 + int(rng.integers(0, 600_000))
    found: list[dict[str, Any]] = [
        {"type": "assessment_started", "ts": _iso(clock)},
        {"type": "device_info", "ts": _iso(clock), "data": {"timezone": zone}},
    ]
    quote = rng.random() < 0.15
    items: list[Any] = sorted([*writer.windows, *writer.answers], key=lambda seen: seen.offset)
    lengths: dict[str, int] = {}
    for seen in items:
        if hasattr(seen, "window"):
            clock += seen.window.windowMs
            lengths[seen.questionId] = seen.window.text.answerLength
            data = msgspec.to_builtins(seen.window)
            found.append({"type": "behaviour_window", "ts": _iso(clock),
                          "questionId": seen.questionId, "data": data})  # fmt: skip
            continue
        chars = lengths.get(seen.questionId, 200)
        text = (
            _copied(rng, chars) if copied else _prose(rng, chars, quote and seen.questionId == "w0")
        )
        found.append({"type": "answer_submitted", "ts": _iso(clock), "questionId": seen.questionId,
                      "data": {"response": text, "timeSpent": seen.timeSpentMs / 1000}})  # fmt: skip
    for seen in graded.answers:
        clock += seen.timeSpentMs
        found.append({"type": "answer_submitted", "ts": _iso(clock), "questionId": seen.questionId,
                      "data": {"response": seen.key[2:], "timeSpent": seen.timeSpentMs / 1000}})  # fmt: skip
    found.append({"type": "assessment_submitted", "ts": _iso(clock + 1_000)})
    return found


def _fixed_times(session: Session, rng: np.random.Generator) -> Session:
    """A script waits the same time on every question."""
    session.answers = [
        msgspec.structs.replace(a, timeSpentMs=90_000 + int(rng.integers(0, 500)))
        for a in session.answers
    ]
    return session


# Honest candidates who draft their answers in another editor and paste each one in: the
# benchmark's guess of how many (docs/behaviour.md names them as typing's known risk).
DRAFTS_ELSEWHERE: Final = 0.02


def _candidate(
    index: int, kind: str, seed: int, items: list[Item], source: Session | None
) -> tuple[Plan, Session]:
    rng = np.random.default_rng(seed + 1_000_003)
    drafts = kind == "honest" and rng.random() < DRAFTS_ELSEWHERE
    writer = {
        "paste_everything": lambda: paste_everything(seed),
        "script": lambda: script(seed, untrusted=False),
        "script_untrusted": lambda: script(seed, untrusted=True),
        "second_typist": lambda: second_typist(seed),
    }.get("paste_everything" if drafts else kind, lambda: honest_writer(seed))()
    if kind == "fed_answers":
        graded = fed_answers(seed, items)
    elif kind == "pair_copier" and source is not None:
        graded = copier(source, seed, items, share=0.9)
    else:
        graded = honest_answers(seed, items)
    if kind in ("script", "script_untrusted"):
        graded = _fixed_times(graded, rng)
    plan = Plan(index=index, kind=kind, drafts_elsewhere=drafts)
    zone = AWAY_ZONE if rng.random() < 0.03 else HOME_ZONE
    if kind == "vpn":
        plan.headers = {"X-Forwarded-For": f"203.0.113.{int(rng.integers(1, 255))}"}
    elif rng.random() < 0.05:  # an office proxy in front of the operator's: two hops
        plan.headers = {
            "X-Forwarded-For": f"198.51.100.{int(rng.integers(1, 255))}, 10.0.0.{int(rng.integers(1, 255))}"
        }
    elif rng.random() < 0.10:  # the operator's proxy alone: one client named
        plan.headers = {"X-Forwarded-For": f"198.51.100.{int(rng.integers(1, 255))}"}
    plan.events = _events(rng, writer, graded, copied=kind == "paste_everything", zone=zone)
    if kind == "honest" and rng.random() < 0.10:  # a flaky network: a cut, then a resend
        plan.cut_at = int(rng.integers(3, len(plan.events) - 1))
    return plan, graded


def population(honest: int, cheaters: int, seed: int) -> tuple[list[Plan], dict[str, Any]]:
    items = assessment(seed)
    kinds = ["honest"] * honest
    for kind in KINDS[1:]:
        if kind != "pair_copier":
            kinds += [kind] * cheaters
    plans: list[Plan] = []
    for n, kind in enumerate(kinds):
        plan, graded = _candidate(len(plans), kind, seed * 100_000 + n, items, None)
        plans.append(plan)
        if kind == "pair_source":
            copy, _ = _candidate(
                len(plans), "pair_copier", seed * 100_000 + 50_000 + n, items, graded
            )
            plans.append(copy)
    order = np.random.default_rng(seed).permutation(len(plans))
    shuffled = [plans[i] for i in order]
    questions = [
        {"id": item.id, "difficulty": item.difficulty, "correctAnswer": item.correct}
        for item in items
    ] + [{"id": f"w{q}"} for q in range(WRITTEN)]
    stamp = f"{seed}-{math.floor(datetime.now(UTC).timestamp())}"
    return shuffled, {"id": f"behaviour-bench-{stamp}", "questions": questions}
