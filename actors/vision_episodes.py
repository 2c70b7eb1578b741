"""Vision verdicts become violations once per episode, never per frame (CONTRACT.md section 6).

An episode is a run of analysed frames that show the same anomaly: no face, several faces,
looking away, a phone, a book, or a camera too dark / bright / blurred / uniform to tell.
`observe` folds each stored `frame_analyzed` into the runs (pure, like `lifecycle.fold`); the
session actor then asks `due` what to store: the episode's event once the run has lasted
`[vision] episode_seconds` over `episode_min_frames` frames, and `vision_episode_ended` when a
frame shows the anomaly is over. Both are stored events, and folding them marks the run, so a
restart or a replay agrees on what was raised.

A frame the detector could not judge for a kind is neutral for it: an unusable frame neither
extends nor ends a face run (couldn't tell is not no face), a frame without object detection
leaves object runs as they are.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from actors.events import (
    CAMERA_UNUSABLE,
    FACE_NOT_DETECTED,
    LOOKING_AWAY,
    MULTIPLE_FACES_DETECTED,
    OBJECT_DETECTED,
    StoredEvent,
    elapsed_ms,
)

EpisodeKind = Literal["no_face", "multiple_faces", "looking_away", "phone", "book", "unusable"]
VISION_EPISODE_ENDED: Final = (
    "vision_episode_ended"  # data {kind, violationOffset, episode, frameId}
)
# The event that raises each kind's episode.
EPISODE_EVENT: Final[dict[str, str]] = {
    "no_face": FACE_NOT_DETECTED,
    "multiple_faces": MULTIPLE_FACES_DETECTED,
    "looking_away": LOOKING_AWAY,
    "phone": OBJECT_DETECTED,
    "book": OBJECT_DETECTED,
    "unusable": CAMERA_UNUSABLE,
}
_OBJECT_LABEL: Final = {"phone": "cell phone", "book": "book"}


class EpisodeRules(msgspec.Struct, frozen=True, kw_only=True):
    seconds: float = 5.0  # from the run's first frame to its latest
    min_frames: int = 2


class Run(msgspec.Struct, kw_only=True):
    kind: str
    start: str
    startOffset: int
    last: str
    lastOffset: int
    frames: int = 1
    # The detector's highest score in the run; None for kinds no score measures (no face, an
    # unusable camera).
    confidence: float | None = None
    raisedOffset: int | None = None  # the offset of the event that raised it
    ended: str | None = None  # the ts of the frame that ended it, until its end is stored
    endOffset: int | None = None
    reason: str | None = None  # why an unusable camera is: "dark", "bright", "blurred", ...


class VisionRuns(msgspec.Struct, kw_only=True):
    """The open runs of one session, by kind; part of the session's snapshot."""

    runs: dict[str, Run] = msgspec.field(default_factory=dict)


class Due(msgspec.Struct, frozen=True, kw_only=True):
    """An event the actor should store now, and the frame (by its event's offset) to keep."""

    type: str
    data: dict[str, Any]
    frameOffset: int


def observe(state: VisionRuns, event: StoredEvent) -> None:
    """Fold a stored event into the runs: frames extend or end them, the events `due` asked for
    mark them raised or remove them."""
    data = event.data or {}
    if event.type == "frame_analyzed":
        for kind, seen in _anomalies(data).items():
            if seen is None:
                continue
            _frame(state, kind, seen, event)
        unusable = state.runs.get("unusable")
        if unusable is not None and data.get("quality"):
            unusable.reason = str(data["quality"])
    elif event.type == VISION_EPISODE_ENDED:
        state.runs.pop(str(data.get("kind")), None)
    elif event.origin == "vision" and isinstance(data.get("episode"), dict):
        run = state.runs.get(str(data["episode"].get("kind")))
        if run is not None:
            run.raisedOffset = event.offset


def due(rules: EpisodeRules, state: VisionRuns) -> list[Due]:
    """What to store after the last frame: episodes that became long enough, episodes that ended
    (their run ended after being raised)."""
    found = []
    for kind, run in list(state.runs.items()):
        if run.ended is not None and run.raisedOffset is not None:
            found.append(
                Due(
                    type=VISION_EPISODE_ENDED,
                    data={
                        "kind": kind,
                        "violationOffset": run.raisedOffset,
                        "episode": _episode(run, end=run.ended),
                    },
                    frameOffset=run.endOffset or run.lastOffset,
                )
            )
        elif run.raisedOffset is None and _long_enough(rules, run):
            data: dict[str, Any] = {"episode": _episode(run)}
            if kind in _OBJECT_LABEL:
                data.update(label=_OBJECT_LABEL[kind], confidence=run.confidence)
            found.append(Due(type=EPISODE_EVENT[kind], data=data, frameOffset=run.lastOffset))
    return found


def _frame(
    state: VisionRuns, kind: str, seen: tuple[bool, float | None], event: StoredEvent
) -> None:
    anomalous, confidence = seen
    run = state.runs.get(kind)
    if anomalous:
        if run is None or run.ended is not None:
            if run is None:
                state.runs[kind] = Run(
                    kind=kind,
                    start=event.ts,
                    startOffset=event.offset,
                    last=event.ts,
                    lastOffset=event.offset,
                    confidence=confidence,
                )
            return  # an ended run waits for its end event; this frame starts nothing yet
        run.frames += 1
        run.last, run.lastOffset = event.ts, event.offset
        if confidence is not None:
            run.confidence = max(run.confidence or 0.0, confidence)
    elif run is not None and run.ended is None:
        if run.raisedOffset is None:
            del state.runs[kind]  # too short to count: forgotten
        else:
            run.ended, run.endOffset = event.ts, event.offset


def _anomalies(data: dict[str, Any]) -> dict[str, tuple[bool, float | None] | None]:
    """For each kind: (anomalous, confidence) when this frame could judge it, else None."""
    usable = data.get("usable", True)
    faces = data.get("faces")
    face_confidence = data.get("faceConfidence")
    found: dict[str, tuple[bool, float | None] | None] = {"unusable": (not usable, None)}
    if usable and isinstance(faces, int):
        found["no_face"] = (faces == 0, None)
        found["multiple_faces"] = (faces > 1, face_confidence)
        looking = (bool(data.get("lookingAway")), face_confidence)
        found["looking_away"] = looking if faces else None
    else:
        found.update(no_face=None, multiple_faces=None, looking_away=None)
    objects = data.get("objects")
    confidences = data.get("objectConfidence") or {}
    for kind, label in _OBJECT_LABEL.items():
        if not usable or not isinstance(objects, list):
            found[kind] = None
        else:
            found[kind] = (label in objects, confidences.get(label))
    return found


def _long_enough(rules: EpisodeRules, run: Run) -> bool:
    return (
        run.frames >= rules.min_frames and elapsed_ms(run.start, run.last) >= rules.seconds * 1000
    )


def _episode(run: Run, end: str | None = None) -> dict[str, Any]:
    episode: dict[str, Any] = {
        "kind": run.kind,
        "start": run.start,
        "durationMs": elapsed_ms(run.start, end or run.last),
        "frames": run.frames,
        "startOffset": run.startOffset,
    }
    if run.confidence is not None:
        episode["confidence"] = round(run.confidence, 4)
    if run.reason is not None:
        episode["reason"] = run.reason
    if end is not None:
        episode["end"] = end
    return episode
