"""The camera that goes dark, pure: camera_off once per episode after camera_off_seconds without
a frame while connected, ended by the next frame, only when the camera is required; dark time
counted for record completeness."""

from __future__ import annotations

from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.camera_watch import (
    CAMERA_OFF,
    CAMERA_OFF_ENDED,
    CameraPolicy,
    CameraRules,
    CameraWatch,
    Due,
    connected,
    dark_total,
    deadline,
    disconnected,
    due,
    frame,
    raised,
)
from app.settings.vision import VisionConfig

RULES = CameraRules(off_seconds=20.0)


class Actor:
    """The session's loop without the actor: store what `due` or `frame` says, number it."""

    def __init__(self, policy: CameraPolicy = "required") -> None:
        self.watch = CameraWatch(policy=policy)
        self.stored: list[Due] = []

    def tick(self, at: float) -> None:
        for found in due(RULES, self.watch, at):
            self.stored.append(found)
            raised(self.watch, len(self.stored))

    def frame(self, at: float) -> None:
        self.tick(at)  # a timer due before the frame fires first
        self.stored.extend(frame(self.watch, at))

    def kinds(self) -> list[str]:
        return [d.type for d in self.stored]


def test_the_default_matches_the_config() -> None:
    assert CameraRules().off_seconds == VisionConfig().camera_off_seconds == 20.0


def test_a_camera_that_never_sends_is_off_after_the_limit_and_once() -> None:
    actor = Actor()
    connected(actor.watch, 100.0)
    assert deadline(RULES, actor.watch) == 120.0
    actor.tick(119.9)
    assert actor.stored == []
    actor.tick(120.0)
    assert actor.kinds() == [CAMERA_OFF]
    assert actor.stored[0].data["episode"] == {
        "kind": "camera_off",
        "secondsWithoutFrame": 20.0,
        "everSentFrame": False,
    }
    actor.tick(200.0)
    actor.tick(500.0)
    assert actor.kinds() == [CAMERA_OFF]  # once per episode
    assert deadline(RULES, actor.watch) is None
    assert dark_total(actor.watch, 130.0) == 30.0


def test_the_next_frame_ends_the_episode_and_its_dark_time_is_kept() -> None:
    actor = Actor()
    connected(actor.watch, 0.0)
    actor.frame(2.0)
    actor.tick(25.0)  # dark since the frame at 2.0
    assert actor.kinds() == [CAMERA_OFF]
    actor.frame(40.0)
    assert actor.kinds() == [CAMERA_OFF, CAMERA_OFF_ENDED]
    ended = actor.stored[-1]
    assert ended.data == {"violationOffset": 1, "episode": {"kind": "camera_off", "darkMs": 38_000}}
    assert dark_total(actor.watch, 50.0) == 38.0
    assert deadline(RULES, actor.watch) == 60.0  # a new episode may start from this frame
    actor.tick(61.0)
    assert actor.kinds() == [CAMERA_OFF, CAMERA_OFF_ENDED, CAMERA_OFF]


def test_frames_closer_than_the_limit_never_raise() -> None:
    actor = Actor()
    connected(actor.watch, 0.0)
    for at in range(0, 600, 5):
        actor.frame(float(at) + 0.5)
    actor.tick(610.0)
    assert actor.stored == []
    assert dark_total(actor.watch, 610.0) == 0.0


def test_an_optional_or_absent_camera_is_never_off() -> None:
    for policy in ("optional", "off"):
        actor = Actor(policy)  # type: ignore[arg-type]
        connected(actor.watch, 0.0)
        actor.tick(1000.0)
        assert actor.stored == []
        assert deadline(RULES, actor.watch) is None


def test_no_socket_no_episode_and_the_clock_restarts_at_connection() -> None:
    actor = Actor()
    actor.tick(1000.0)  # never connected
    connected(actor.watch, 1000.0)
    actor.tick(1015.0)
    disconnected(actor.watch, 1015.0)
    actor.tick(1100.0)
    assert actor.stored == []
    connected(actor.watch, 1100.0)
    actor.tick(1119.0)
    assert actor.stored == []
    actor.tick(1120.0)
    assert actor.kinds() == [CAMERA_OFF]


def test_an_episode_survives_a_reconnect_and_counts_dark_time_only_while_connected() -> None:
    actor = Actor()
    connected(actor.watch, 0.0)
    actor.tick(20.0)
    disconnected(actor.watch, 30.0)  # 30 s dark so far
    connected(actor.watch, 100.0)
    actor.tick(130.0)
    assert actor.kinds() == [CAMERA_OFF]  # not raised again for the same dark camera
    assert dark_total(actor.watch, 130.0) == 60.0
    actor.frame(140.0)
    assert actor.kinds() == [CAMERA_OFF, CAMERA_OFF_ENDED]
    assert actor.stored[-1].data["episode"]["darkMs"] == 70_000
    assert dark_total(actor.watch, 200.0) == 70.0


Step = tuple[Literal["frame", "connect", "disconnect", "tick"], float]
steps = st.lists(
    st.tuples(
        st.sampled_from(["frame", "connect", "disconnect", "tick"]),
        st.integers(0, 40).map(float),
    ),
    max_size=50,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_episodes_alternate_and_dark_time_never_goes_back(run: list[Step]) -> None:
    actor = Actor()
    clock, dark, online = 0.0, 0.0, False
    for kind, gap in run:
        clock += gap
        if kind == "connect" and not online:
            connected(actor.watch, clock)
            online = True
        elif kind == "disconnect" and online:
            actor.tick(clock)
            disconnected(actor.watch, clock)
            online = False
        elif kind == "frame" and online:
            actor.frame(clock)
        else:
            actor.tick(clock)
        now = dark_total(actor.watch, clock)
        assert now >= dark - 1e-9
        assert now <= clock + 1e-9
        dark = now
    kinds = actor.kinds()
    # camera_off and its end alternate, starting with camera_off: once per episode.
    assert kinds == [CAMERA_OFF, CAMERA_OFF_ENDED] * (len(kinds) // 2) + [CAMERA_OFF] * (
        len(kinds) % 2
    )
    for found in actor.stored:
        if found.type == CAMERA_OFF:
            assert found.data["episode"]["secondsWithoutFrame"] >= RULES.off_seconds
        else:
            assert found.data["episode"]["darkMs"] >= RULES.off_seconds * 1000 - 1
