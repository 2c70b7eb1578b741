"""A session's behaviour evidence as the actor will keep it: the folds of every factor in one
state, restored from a snapshot at any point, and the findings it adds up to."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.behaviour import evidence, network, similarity
from actors.behaviour.config import BehaviourConfig
from actors.behaviour.observations import AnswerSeen, ConnectionSeen, WindowSeen
from tests.test_behaviour_support import honest_writer, paste_everything, script

CONFIG = BehaviourConfig()
DATA = evidence.OutsideData(
    corpus=similarity.build_corpus({"notes": " ".join(f"word{n}" for n in range(200))}),
    network=network.policy(network.NetworkLists(vpn_cidrs=["198.51.100.0/24"])),
)
Observation = WindowSeen | AnswerSeen | ConnectionSeen


def fold(state: evidence.BehaviourState, seen: Observation) -> evidence.BehaviourState:
    match seen:
        case WindowSeen():
            return evidence.fold_window(state, seen)
        case AnswerSeen():
            return evidence.fold_answer(state, seen, DATA)
        case ConnectionSeen():
            return evidence.fold_connection(state, seen)


def session_observations(seed: int, kind: str) -> list[Observation]:
    made = {"honest": honest_writer, "paste": paste_everything}.get(kind)
    session = made(seed) if made else script(seed, untrusted=True)
    peer = "198.51.100.4" if kind == "script" else "203.0.113.9"
    merged: list[Observation] = [*session.windows, *session.answers]
    merged.sort(key=lambda seen: seen.offset)
    return [ConnectionSeen(offset=0, peer=peer), *merged]


def run(observations: list[Observation]) -> evidence.BehaviourState:
    state = evidence.BehaviourState()
    for seen in observations:
        state = fold(state, seen)
    return state


def test_an_honest_session_adds_up_to_no_finding() -> None:
    for seed in range(5):
        assert evidence.findings(run(session_observations(seed, "honest")), CONFIG, DATA) == []


def test_a_script_on_a_listed_address_adds_up_to_each_factor_it_shows() -> None:
    found = evidence.findings(run(session_observations(3, "script")), CONFIG, DATA)
    assert [f.check for f in found] == ["EXACT_TIMING", "VPN_PROXY", "BOT_LIKE"]
    assert all(f.points < 0 and f.counted for f in found)  # all three are on by default


def test_a_paster_adds_up_to_typing_inconsistency() -> None:
    found = evidence.findings(run(session_observations(1, "paste")), CONFIG, DATA)
    assert [f.check for f in found] == ["TYPING_INCONSISTENCY"]


def test_a_copied_source_is_similarity() -> None:
    text = " ".join(f"word{n}" for n in range(40, 120))
    answer = AnswerSeen(
        offset=7, questionId="q1", timeSpentMs=1, submittedAtMs=0, key="", text=text
    )
    state = evidence.fold_answer(evidence.BehaviourState(), answer, DATA)
    assert [f.check for f in evidence.findings(state, CONFIG, DATA)] == ["SOURCE_SIMILARITY"]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["honest", "paste", "script"]), st.data())
def test_a_snapshot_anywhere_resumes_to_the_same_state(
    seed: int, kind: str, data: st.DataObject
) -> None:
    observations = session_observations(seed, kind)
    cut = data.draw(st.integers(0, len(observations)))
    state = run(observations[:cut])
    state = msgspec.json.decode(msgspec.json.encode(state), type=evidence.BehaviourState)
    for seen in observations[cut:]:
        state = fold(state, seen)
    whole = run(observations)
    assert state == whole
    assert evidence.findings(state, CONFIG, DATA) == evidence.findings(whole, CONFIG, DATA)


def test_a_snapshot_from_a_newer_version_still_reads() -> None:
    newer = b'{"version": 2, "somethingNew": [1, 2], "network": {"connections": []}}'
    state = msgspec.json.decode(newer, type=evidence.BehaviourState)
    assert state.version == 2 and state.bot_like == evidence.BehaviourState().bot_like
