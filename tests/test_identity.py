"""Who is on camera, pure: enrolment from frames, a mismatch raised once per episode and ended by
the reference person, poor frames counting for nothing, replays that agree, and no embedding in
anything the session stores or publishes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.events import StoredEvent, iso_ms
from actors.identity import (
    IDENTITY_ENROLLED,
    IDENTITY_EPISODE_ENDED,
    IDENTITY_MISMATCH,
    Biometrics,
    IdentityRules,
    IdentityState,
    Judgement,
    Sighting,
    due,
    frame_data,
    judge,
    observe,
    set_photo,
    similarity,
)
from app.settings.vision import VisionConfig

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
RULES = IdentityRules(threshold=0.43, enrol_frames=3, mismatch_seconds=5.0, mismatch_min_frames=2)
DIMENSIONS = 16


def person(seed: int) -> np.ndarray:
    """One person's unit direction; different people are orthogonal."""
    vector = np.zeros(DIMENSIONS)
    vector[seed % DIMENSIONS] = 1.0
    return vector


def seen(seed: int, jitter: float = 0.05, salt: int = 0) -> Sighting:
    """One usable frame of `seed`'s face, moved a little as a webcam moves it."""
    noise = np.random.default_rng(1000 + seed * 7919 + salt).normal(size=DIMENSIONS) * jitter
    return Sighting(usable=True, faces=1, embedding=tuple((person(seed) + noise).tolist()))


DARK = Sighting(usable=False, faces=None)
TWO = Sighting(usable=True, faces=2, embedding=None)
NOBODY = Sighting(usable=True, faces=0)


class Session:
    """The actor's loop without the actor: judge each frame, store it with its score, then what
    `due` asks for, folding every stored event."""

    def __init__(self, rules: IdentityRules = RULES) -> None:
        self.rules = rules
        self.biometrics = Biometrics()
        self.state = IdentityState()
        self.log: list[StoredEvent] = []

    def store(self, kind: str, data: dict[str, Any], seconds: float) -> StoredEvent:
        event = StoredEvent(
            type=kind,
            offset=len(self.log) + 1,
            ts=iso_ms(START + timedelta(seconds=seconds)),
            data=data,
            origin="vision" if kind == "frame_analyzed" else "server",
        )
        observe(self.state, event)
        self.log.append(event)
        return event

    def photo(self, seed: int, seconds: float) -> None:
        set_photo(self.biometrics, seen(seed, jitter=0.0).embedding or ())
        self.store(IDENTITY_ENROLLED, {"reference": "photo"}, seconds)

    def frame(self, sighting: Sighting, seconds: float) -> Judgement:
        judgement = judge(self.rules, self.biometrics, sighting)
        data: dict[str, Any] = {"usable": sighting.usable, "faces": sighting.faces}
        identity = frame_data(judgement)
        if identity is not None:
            data["identity"] = identity
        self.store("frame_analyzed", data, seconds)
        if judgement.enrolled is not None:
            self.store(IDENTITY_ENROLLED, {"reference": judgement.enrolled}, seconds)
        for found in due(self.rules, self.state):
            self.store(found.type, {**found.data, "frameId": str(found.frameOffset)}, seconds)
        return judgement

    def frames(self, sighting: Sighting | int, at: list[float]) -> None:
        for number, seconds in enumerate(at):
            shown = (
                seen(sighting, salt=int(seconds * 10) + number)
                if isinstance(sighting, int)
                else sighting
            )
            self.frame(shown, seconds)

    def kinds(self) -> list[str]:
        return [e.type for e in self.log if e.type != "frame_analyzed"]


def test_the_rules_default_to_the_measured_threshold() -> None:
    assert IdentityRules().threshold == VisionConfig().identity_match_threshold


def test_without_a_reference_the_status_is_none_and_frames_score_nothing() -> None:
    session = Session()
    assert session.state.public() == {"status": "none", "reference": None}
    assert session.frame(seen(1), 0.0) == Judgement()  # kept as a candidate, not scored
    assert session.state.status == "none"


def test_enrolment_from_the_first_usable_frames_that_agree() -> None:
    session = Session()
    session.frame(DARK, 0.0)  # too poor: not a candidate
    session.frame(TWO, 2.5)  # two faces: whose?
    session.frames(1, [5.0, 7.5])
    assert session.state.status == "none"
    session.frame(seen(1, salt=99), 10.0)
    assert session.kinds() == [IDENTITY_ENROLLED]
    assert session.state.public() == {"status": "enrolled", "reference": "frames"}
    assert session.biometrics.kind == "frames"
    assert session.biometrics.candidates == []
    # The reference is the person's direction: their next frame matches, another's does not.
    assert similarity(session.biometrics.reference or [], person(1)) > 0.99
    assert session.frame(seen(1, salt=5), 12.5).match is True
    assert session.state.public() == {
        "status": "verified",
        "reference": "frames",
        "lastMatchScore": session.state.lastMatchScore,
    }
    assert session.frame(seen(2), 15.0).match is False


def test_a_frame_that_disagrees_restarts_the_enrolment() -> None:
    session = Session()
    session.frames(1, [0.0, 2.5])
    session.frame(seen(2), 5.0)  # someone else leans in: start again from them
    assert session.biometrics.candidates and len(session.biometrics.candidates) == 1
    session.frames(2, [7.5, 10.0])
    assert session.kinds() == [IDENTITY_ENROLLED]
    assert similarity(session.biometrics.reference or [], person(2)) > 0.99


def test_a_photo_replaces_the_enrolment_and_is_the_reference() -> None:
    session = Session()
    session.frames(2, [0.0, 2.5])
    session.photo(1, 3.0)
    assert session.biometrics.candidates == []
    assert session.state.public() == {"status": "enrolled", "reference": "photo"}
    session.frames(1, [5.0])
    assert session.state.status == "verified"


def test_another_person_is_flagged_once_per_episode_and_the_episode_ends() -> None:
    session = Session()
    session.photo(1, 0.0)
    session.frames(1, [2.5, 5.0])
    session.frames(2, [7.5, 10.0, 12.5, 15.0, 17.5])  # raised at 12.5: 5 s over 3 frames
    assert session.kinds() == [IDENTITY_ENROLLED, IDENTITY_MISMATCH]
    assert session.state.status == "mismatch"
    raised = next(e for e in session.log if e.type == IDENTITY_MISMATCH)
    assert raised.data is not None
    episode = raised.data["episode"]
    assert episode["frames"] == 3 and episode["durationMs"] == 5000
    assert raised.data["threshold"] == RULES.threshold
    assert len(raised.data["scores"]) == 3
    assert all(score < RULES.threshold for score in raised.data["scores"])
    assert episode["lowestScore"] == min(raised.data["scores"])
    assert raised.data["frameId"] == str(raised.offset - 1)  # the frame that made it long enough
    session.frames(1, [20.0])
    assert session.kinds()[-1] == IDENTITY_EPISODE_ENDED
    ended = session.log[-1]
    assert ended.data is not None
    assert ended.data["violationOffset"] == raised.offset
    assert ended.data["episode"]["frames"] == 5
    assert ended.data["episode"]["durationMs"] == 12_500
    assert session.state.status == "verified"
    assert session.state.run is None
    session.frames(2, [22.5, 25.0, 27.5, 30.0])  # a second episode is raised again
    assert session.kinds().count(IDENTITY_MISMATCH) == 2


def test_a_short_run_of_another_face_raises_nothing() -> None:
    session = Session()
    session.photo(1, 0.0)
    session.frames(2, [2.5, 5.0])  # 2.5 s: under 5 s
    session.frames(1, [7.5])
    session.frames(2, [10.0])
    assert session.kinds() == [IDENTITY_ENROLLED]
    assert session.state.status == "verified"


def test_poor_frames_count_for_nothing() -> None:
    session = Session()
    session.photo(1, 0.0)
    session.frames(2, [2.5])
    # Dark, empty and crowded frames in between neither extend the run nor end it.
    for seconds, frame in [(5.0, DARK), (7.5, NOBODY), (10.0, TWO)]:
        assert session.frame(frame, seconds) == Judgement()
    assert session.state.run is not None and session.state.run.frames == 1
    session.frames(2, [12.5])  # 10 s after the first, over 2 frames: raised
    assert session.kinds() == [IDENTITY_ENROLLED, IDENTITY_MISMATCH]
    assert session.state.run is not None and session.state.run.frames == 2


def test_a_new_reference_ends_a_raised_episode() -> None:
    session = Session()
    session.photo(1, 0.0)
    session.frames(2, [2.5, 5.0, 7.5, 10.0])
    assert session.state.status == "mismatch"
    session.photo(2, 11.0)  # the admin fixes a wrong reference photo
    session.frames(2, [12.5])
    assert session.kinds() == [
        IDENTITY_ENROLLED,
        IDENTITY_MISMATCH,
        IDENTITY_ENROLLED,
        IDENTITY_EPISODE_ENDED,
    ]
    assert session.state.status == "verified"


def test_nothing_stored_or_published_holds_an_embedding() -> None:
    session = Session()
    session.frames(1, [0.0, 2.5, 5.0])
    session.frames(2, [7.5, 10.0, 12.5, 15.0])
    stored = msgspec.to_builtins([session.log, session.state])
    reference = session.biometrics.reference or []
    assert len(reference) == DIMENSIONS
    components = {round(value, 6) for value in reference}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            assert len(value) < DIMENSIONS or not all(isinstance(v, float) for v in value)
            for item in value:
                walk(item)
        elif isinstance(value, float):
            assert round(value, 6) not in components

    walk(stored)


def test_embeddings_of_another_model_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="16 and 8 dimensions"):
        similarity(person(1), person(1)[:8])
    with pytest.raises(ValueError, match="non-zero"):
        similarity(np.zeros(4), np.ones(4))


Step = tuple[Literal["same", "other", "poor"], float]
# Gaps in quarter seconds: exact in binary and in milliseconds, so no boundary is a rounding.
steps = st.lists(
    st.tuples(st.sampled_from(["same", "other", "poor"]), st.integers(1, 16).map(lambda q: q / 4)),
    max_size=40,
)


def oracle(rules: IdentityRules, run: list[Step]) -> int:
    """Episodes counted straight from the definition: maximal runs of 'other' frames (poor
    frames skipped) spanning mismatch_seconds over mismatch_min_frames."""
    episodes, current, clock = 0, [], 0.0
    for kind, gap in run:
        clock += gap
        if kind == "poor":
            continue
        if kind == "other":
            current.append(clock)
            continue
        episodes += _counts(rules, current)
        current = []
    return episodes + _counts(rules, current)


def _counts(rules: IdentityRules, times: list[float]) -> int:
    if len(times) < rules.mismatch_min_frames:
        return 0
    ms = [round(t * 1000) for t in times]
    return int(any(m - ms[0] >= rules.mismatch_seconds * 1000 for m in ms))


@settings(max_examples=150, deadline=None)
@given(steps)
def test_mismatch_episodes_match_their_definition_and_replays_agree(run: list[Step]) -> None:
    session = Session()
    session.photo(1, 0.0)
    clock = 0.0
    for number, (kind, gap) in enumerate(run):
        clock += gap
        frame = {"same": seen(1, salt=number), "other": seen(2, salt=number), "poor": DARK}[kind]
        session.frame(frame, clock)
    assert session.kinds().count(IDENTITY_MISMATCH) == oracle(RULES, run)
    assert session.kinds().count(IDENTITY_EPISODE_ENDED) <= session.kinds().count(IDENTITY_MISMATCH)
    replayed = IdentityState()
    for event in session.log:
        observe(replayed, event)
    assert msgspec.to_builtins(replayed) == msgspec.to_builtins(session.state)
    assert not due(RULES, replayed)  # everything due was stored
    assert session.state.status in {"enrolled", "verified", "mismatch"}
    if session.state.lastMatchScore is not None:
        assert math.isfinite(session.state.lastMatchScore)
