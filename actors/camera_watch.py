"""The camera that goes dark, pure: a connected session whose assessment requires the camera and
that sends no frame for `[vision] camera_off_seconds` gets one `camera_off` (violation
CAMERA_OFF, HIGH) per episode; the episode ends at the next frame (CONTRACT.md section 9.1).

No clock here: every call is given the time (seconds, any monotonic origin the caller keeps) and
the actor sets its timer from `deadline`. The dark time of raised episodes, while connected, is
what record completeness counts as camera-dark. An episode survives a reconnect: a candidate who
keeps the camera off and reconnects is raised once, not once per socket. Like the vision
episodes, `due` proposes and the stored event (`raised`) marks, so nothing is raised twice.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

CameraPolicy = Literal["required", "optional", "off"]
CAMERA_OFF: Final = "camera_off"  # data {episode}; violation CAMERA_OFF, HIGH
CAMERA_OFF_ENDED: Final = "camera_off_ended"  # data {violationOffset, episode}


class CameraRules(msgspec.Struct, frozen=True, kw_only=True):
    off_seconds: float = 20.0  # [vision] camera_off_seconds


class CameraWatch(msgspec.Struct, kw_only=True):
    """Part of the session's snapshot."""

    policy: CameraPolicy = "required"
    connected_at: float | None = None  # None while no socket is connected
    last_frame: float | None = None
    # Since when the camera has been dark while connected: the last frame, or the connection
    # when none came after it.
    dark_from: float | None = None
    dark_seconds: float = 0.0  # closed stretches of raised episodes
    raisedOffset: int | None = None  # the camera_off of the open episode
    episode_dark: float = 0.0  # its dark time in earlier connections


class Due(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    data: dict[str, Any]


def connected(watch: CameraWatch, at: float) -> None:
    watch.connected_at = at
    watch.dark_from = at


def disconnected(watch: CameraWatch, at: float) -> None:
    """Dark time stops counting; an open episode stays open until a frame comes."""
    if watch.raisedOffset is not None and watch.dark_from is not None:
        stretch = max(0.0, at - watch.dark_from)
        watch.dark_seconds += stretch
        watch.episode_dark += stretch
    watch.connected_at = None
    watch.dark_from = None


def frame(watch: CameraWatch, at: float) -> list[Due]:
    """A frame arrived: it ends an open episode."""
    found = []
    if watch.raisedOffset is not None:
        stretch = _open_stretch(watch, at)
        dark = watch.episode_dark + stretch
        watch.dark_seconds += stretch
        found.append(
            Due(
                type=CAMERA_OFF_ENDED,
                data={"violationOffset": watch.raisedOffset, "episode": _episode(watch, dark)},
            )
        )
        watch.raisedOffset = None
        watch.episode_dark = 0.0
    watch.last_frame = at
    watch.dark_from = at if watch.connected_at is not None else None
    return found


def deadline(rules: CameraRules, watch: CameraWatch) -> float | None:
    """When `due` would next raise, if nothing comes before: the actor's timer."""
    if watch.policy != "required" or watch.connected_at is None or watch.dark_from is None:
        return None
    if watch.raisedOffset is not None:
        return None
    return watch.dark_from + rules.off_seconds


def due(rules: CameraRules, watch: CameraWatch, at: float) -> list[Due]:
    """`camera_off` once the camera has been dark `off_seconds` while connected."""
    when = deadline(rules, watch)
    if when is None or at < when:
        return []
    assert watch.dark_from is not None
    episode = {
        "kind": "camera_off",
        "secondsWithoutFrame": round(at - watch.dark_from, 3),
        "everSentFrame": watch.last_frame is not None,
    }
    return [Due(type=CAMERA_OFF, data={"episode": episode})]


def raised(watch: CameraWatch, offset: int) -> None:
    """The camera_off `due` proposed is stored, at `offset`."""
    if watch.raisedOffset is None:
        watch.raisedOffset = offset
        watch.episode_dark = 0.0


def dark_total(watch: CameraWatch, at: float) -> float:
    """Camera-dark seconds so far (raised episodes, while connected), the open one included."""
    if watch.raisedOffset is None:
        return watch.dark_seconds
    return watch.dark_seconds + _open_stretch(watch, at)


def _open_stretch(watch: CameraWatch, at: float) -> float:
    if watch.connected_at is None or watch.dark_from is None:
        return 0.0
    return max(0.0, at - watch.dark_from)


def _episode(watch: CameraWatch, dark: float) -> dict[str, Any]:
    return {"kind": "camera_off", "darkMs": round(dark * 1000)}
