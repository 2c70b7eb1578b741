"""The behaviour wiring's parts: the cohort taken apart again equals the cohort built without
the pair (collaboration's n, not n squared), the forwarding headers as the socket reads them,
the operator's files and their errors, and a restart between the windows and the submission."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from actors.behaviour import collaboration
from app.settings.behaviour import BehaviourFileError, BehaviourSettings, load_rules
from app.sockets.forwarding import forwarding
from tests.support import running_server
from tests.test_behaviour_socket import flagged, scripted_window
from tests.test_behaviour_support_graded import assessment, honest_answers

ITEMS = assessment(3)


@settings(max_examples=40, deadline=None)
@given(seeds=st.lists(st.integers(0, 10_000), min_size=2, max_size=8, unique=True))
def test_the_cohort_without_a_pair_is_the_cohort_of_the_others(seeds: list[int]) -> None:
    sheets = [honest_answers(seed, ITEMS).sheet() for seed in seeds]
    pair, others = sheets[:2], sheets[2:]
    taken = collaboration.without(collaboration.cohort_of(sheets), pair)
    built = collaboration.cohort_of(others)
    assert taken.wrong == built.wrong
    assert taken.times.keys() == built.times.keys()
    for qid, stat in built.times.items():
        assert taken.times[qid].count == stat.count
        assert taken.times[qid].log_total == pytest.approx(stat.log_total)


def test_forwarding_headers_are_read_as_a_chain_and_a_proxied_peer_is_known() -> None:
    headers = Headers(
        raw=[
            (b"x-forwarded-for", b"203.0.113.9, 198.51.100.7:4711"),
            (b"forwarded", b'for="[2001:db8::1]:443";proto=https, for=192.0.2.60'),
            (b"via", b"1.1 proxy"),
        ]
    )
    assert forwarding(headers, "198.51.100.7") == {
        "forwardedFor": ["203.0.113.9", "198.51.100.7", "2001:db8::1", "192.0.2.60"],
        "proxied": True,
        "via": True,
    }
    assert forwarding(Headers(raw=[]), "127.0.0.1") == {}
    direct = forwarding(Headers(raw=[(b"x-forwarded-for", b"10.0.0.1")]), "127.0.0.1")
    assert direct == {"forwardedFor": ["10.0.0.1"]}  # a peer that is not ours: not proxied


def test_the_operators_files_are_loaded_and_a_bad_line_is_named(tmp_path: Path) -> None:
    corpus, vpn = tmp_path / "notes.txt", tmp_path / "vpn.txt"
    corpus.write_text("the mitochondria is the powerhouse of the cell " * 10)
    vpn.write_text("# exits\n203.0.113.0/24\n198.51.100.7\n")
    rules = load_rules(BehaviourSettings(corpus_files=[str(corpus)], vpn_cidr_files=[str(vpn)]))
    assert set(rules.data.corpus.sources) == {"notes.txt"}
    assert len(rules.data.network.vpn) == 2
    vpn.write_text("203.0.113.0/24\n\n10.0.0.0/33\n")
    with pytest.raises(BehaviourFileError, match=r"vpn\.txt line 3: .*'10\.0\.0\.0/33'"):
        load_rules(BehaviourSettings(vpn_cidr_files=[str(vpn)]))
    with pytest.raises(BehaviourFileError, match=r"corpus_files: cannot read .*missing\.txt"):
        load_rules(BehaviourSettings(corpus_files=[str(tmp_path / "missing.txt")]))


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_windows_before_a_restart_count_at_the_submission_after_it(tmp_path: Path) -> None:
    sections = {
        "behaviour": {"bot_like": {"enabled": True}},
        "sessions": {"snapshot_every_events": 2},  # a snapshot mid-way, then a tail
    }
    async with running_server(tmp_path, **sections) as server:
        session_id, token = await server.create_session()
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(1, "assessment_started")
            for seq in range(2, 5):
                await candidate.event(
                    seq, "behaviour_window", questionId="q1", data=scripted_window()
                )
            await candidate.acked(4)
    async with running_server(tmp_path, **sections) as server:
        async with server.candidate(session_id, token) as candidate:
            await candidate.event(5, "assessment_submitted")
            await candidate.acked(5)
        (finding,) = await flagged(server, session_id)
        assert finding["check"] == "BOT_LIKE" and len(finding["offsets"]) == 3
