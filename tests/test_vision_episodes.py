"""Vision episodes, pure: a violation once per run of frames, never per frame; couldn't-tell is
never no-face; the end of a run is recorded with its length; replays agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from actors.config import ScoringConfig
from actors.events import StoredEvent, iso_ms
from actors.lifecycle import fold
from actors.state import SNAPSHOT_DECODER, SessionSnapshot
from actors.vision_episodes import VISION_EPISODE_ENDED, EpisodeRules, due

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
RULES = EpisodeRules(seconds=5.0, min_frames=2)
FACE = {"usable": True, "faces": 1, "objects": None, "faceConfidence": 0.9, "lookingAway": False}
NO_FACE = {"usable": True, "faces": 0, "objects": None}
TWO_FACES = {"usable": True, "faces": 2, "objects": None, "faceConfidence": 0.8}
DARK = {"usable": False, "faces": None, "objects": None, "quality": "dark"}
PHONE = {**FACE, "objects": ["person", "cell phone"], "objectConfidence": {"cell phone": 0.7}}
NO_OBJECTS = {**FACE, "objects": ["person"]}


class Session:
    """The actor's loop, without the actor: store each frame, then what `due` asks for."""

    def __init__(self) -> None:
        self.record = SessionSnapshot()
        self.log: list[StoredEvent] = []

    def store(self, kind: str, data: dict[str, Any], seconds: float) -> None:
        event = StoredEvent(
            type=kind,
            offset=self.record.offset + 1,
            ts=iso_ms(START + timedelta(seconds=seconds)),
            data=data,
            origin="vision",
        )
        fold(ScoringConfig(), self.record, event)
        self.log.append(event)

    def frames(self, data: dict[str, Any], at: list[float]) -> None:
        for seconds in at:
            self.store("frame_analyzed", data, seconds)
            for found in due(RULES, self.record.vision):
                self.store(found.type, {**found.data, "frameId": str(found.frameOffset)}, seconds)

    def kinds(self) -> list[str]:
        return [event.type for event in self.log if event.type != "frame_analyzed"]


def test_a_violation_is_raised_once_per_episode_and_its_end_recorded() -> None:
    session = Session()
    session.frames(FACE, [0.0, 2.5])
    session.frames(NO_FACE, [5.0, 7.5, 10.0, 12.5, 15.0])  # raised at 10.0: 5 s over 3 frames
    session.frames(FACE, [17.5])
    assert session.kinds() == ["face_not_detected", VISION_EPISODE_ENDED]
    raised = next(e for e in session.log if e.type == "face_not_detected")
    assert raised.data is not None
    assert raised.data["episode"] == {
        "kind": "no_face", "start": iso_ms(START + timedelta(seconds=5)), "durationMs": 5000,
        "frames": 3, "startOffset": 3,
    }  # fmt: skip
    assert raised.data["frameId"] == "5"  # the frame that made the run long enough
    ended = session.log[-1]
    assert ended.data is not None
    assert ended.data["violationOffset"] == raised.offset
    assert ended.data["episode"]["durationMs"] == 12_500  # 5.0 s to 17.5 s
    assert ended.data["episode"]["frames"] == 5
    assert ended.data["frameId"] == str(ended.offset - 1)  # the face that ended it
    assert session.record.score.by_type == {"FACE_NOT_DETECTED": 1}
    assert session.record.vision.runs == {}


def test_a_short_run_raises_nothing() -> None:
    session = Session()
    session.frames(NO_FACE, [0.0, 2.5])  # 2.5 s: under 5 s
    session.frames(FACE, [5.0])
    session.frames(NO_FACE, [30.0])  # one frame, however long after
    session.frames(FACE, [32.5])
    assert session.kinds() == []
    assert session.record.score.violations == 0
    # ...but the risk score counts every frame, as document 002 says.
    assert (session.record.score.frames, session.record.score.no_face_frames) == (5, 3)


def test_an_unusable_camera_is_not_a_missing_face() -> None:
    session = Session()
    session.frames(NO_FACE, [0.0, 2.5])
    session.frames(DARK, [5.0, 7.5, 10.0, 12.5])  # couldn't tell: neither extends nor ends
    session.frames(NO_FACE, [15.0])
    kinds = session.kinds()
    assert kinds.count("camera_unusable") == 1 and "face_not_detected" in kinds
    unusable = next(e for e in session.log if e.type == "camera_unusable")
    assert unusable.data is not None and unusable.data["episode"]["reason"] == "dark"
    face = next(e for e in session.log if e.type == "face_not_detected")
    assert face.data is not None
    assert face.data["episode"]["frames"] == 3  # 0.0, 2.5 and 15.0: the dark ones not counted
    score = session.record.score
    assert score.by_type == {"FACE_NOT_DETECTED": 1}  # camera_unusable is no violation
    assert (score.frames, score.unusable_frames, score.no_face_frames) == (3, 4, 3)


def test_objects_are_judged_only_on_frames_that_looked_for_them() -> None:
    session = Session()
    session.frames(PHONE, [0.0])
    session.frames(FACE, [2.5, 5.0])  # no object detection: the phone run goes on
    session.frames(PHONE, [7.5])
    assert session.kinds() == ["object_detected"]
    raised = session.log[-1]
    assert raised.data is not None
    assert raised.data["label"] == "cell phone" and raised.data["confidence"] == 0.7
    assert raised.data["episode"]["frames"] == 2
    session.frames(NO_OBJECTS, [10.0])
    assert session.kinds() == ["object_detected", VISION_EPISODE_ENDED]
    score = session.record.score
    assert (score.object_frames, score.phone_detections, score.frames) == (3, 2, 5)


def test_several_faces_and_looking_away_are_episodes_of_their_own() -> None:
    session = Session()
    away = {**FACE, "lookingAway": True}
    session.frames(TWO_FACES, [0.0, 2.5, 5.0])
    session.frames(away, [7.5, 10.0, 12.5])
    kinds = session.kinds()
    assert kinds[:2] == ["multiple_faces_detected", VISION_EPISODE_ENDED]
    assert kinds[2:] == ["looking_away"]
    assert session.record.score.by_type == {"MULTIPLE_FACES": 1}  # looking away only alerts


def test_a_replay_from_a_snapshot_agrees_on_what_was_raised() -> None:
    session = Session()
    session.frames(NO_FACE, [0.0, 2.5, 5.0, 7.5])
    session.frames(FACE, [10.0])
    for cut in range(len(session.log) + 1):
        record = SessionSnapshot()
        for event in session.log[:cut]:
            fold(ScoringConfig(), record, event)
        record = SNAPSHOT_DECODER.decode(msgspec.json.encode(record))
        for event in session.log[cut:]:
            fold(ScoringConfig(), record, event)
        assert record.vision == session.record.vision
        assert due(RULES, record.vision) == []  # nothing left to raise or end
        assert record.score == session.record.score
