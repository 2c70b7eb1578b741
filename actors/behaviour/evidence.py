"""One session's behaviour evidence: every session-local factor's state in one Struct, the three
folds the actor calls, and the findings they add up to. Collaboration compares two sessions, so
it is asked apart (`collaboration.finding`), with this session's `answers`.

The actor keeps a `BehaviourState` in its record and folds:
- `fold_window` on each stored `behaviour_window`,
- `fold_answer` on each `answer_submitted` (with its grade and the question's difficulty),
- `fold_connection` on each candidate connection and `device_info` time zone.
"""

from __future__ import annotations

from typing import Final

import msgspec

from actors.behaviour import (
    answer_patterns,
    answer_sheet,
    bot_like,
    exact_timing,
    network,
    similarity,
    typing_rhythm,
)
from actors.behaviour.config import BehaviourConfig
from actors.behaviour.findings import Finding
from actors.behaviour.observations import AnswerSeen, ConnectionSeen, WindowSeen

# Written into snapshots; a reader that meets a newer one keeps what it knows (no forbidden
# unknown fields) and an older one gets the defaults for what it lacks.
VERSION: Final = 1


class BehaviourState(msgspec.Struct, frozen=True, kw_only=True):
    version: int = VERSION
    bot_like: bot_like.BotLikeState = bot_like.BotLikeState()
    typing: typing_rhythm.TypingState = typing_rhythm.TypingState()
    answers: answer_sheet.AnswerSheet = answer_sheet.AnswerSheet()
    similarity: similarity.SimilarityState = similarity.SimilarityState()
    network: network.NetworkState = network.NetworkState()


class BehaviourRecord(msgspec.Struct, kw_only=True):
    """The session snapshot's part (actors/behaviour_watch.py folds it)."""

    state: BehaviourState = msgspec.field(default_factory=BehaviourState)
    # Checks already stored as `behaviour_flagged` (collaboration: once per other session).
    flagged: list[str] = msgspec.field(default_factory=list)


class OutsideData(msgspec.Struct, frozen=True, kw_only=True):
    """What the operator supplies, loaded once by the edge."""

    corpus: similarity.Corpus = similarity.Corpus(sources={})
    network: network.NetworkPolicy = network.policy(network.NetworkLists())


def fold_window(state: BehaviourState, seen: WindowSeen) -> BehaviourState:
    return msgspec.structs.replace(
        state,
        bot_like=bot_like.fold(state.bot_like, seen),
        typing=typing_rhythm.fold(state.typing, seen),
    )


def fold_answer(state: BehaviourState, seen: AnswerSeen, data: OutsideData) -> BehaviourState:
    return msgspec.structs.replace(
        state,
        # The text is compared once, as it comes; the sheet (in every snapshot) keeps no text.
        answers=answer_sheet.fold(state.answers, msgspec.structs.replace(seen, text="")),
        similarity=similarity.fold(state.similarity, seen, data.corpus),
    )


def fold_connection(state: BehaviourState, seen: ConnectionSeen) -> BehaviourState:
    return msgspec.structs.replace(state, network=network.fold(state.network, seen))


def findings(state: BehaviourState, config: BehaviourConfig, data: OutsideData) -> list[Finding]:
    """Every session-local factor's finding, in document 001's order of the factors."""
    found = [
        typing_rhythm.finding(state.typing, config.typing),
        answer_patterns.finding(state.answers, config.answer_patterns),
        exact_timing.finding(state.answers, config.exact_timing),
        network.finding(state.network, config.vpn_proxy, data.network),
        similarity.finding(state.similarity, config.similarity),
        bot_like.finding(state.bot_like, config.bot_like),
    ]
    return [finding for finding in found if finding is not None]
