"""What one analysed frame becomes on the server: the `frame_analyzed` event's data, and the
anomalies its camera shows after it (which decide when objects are looked for again)."""

from __future__ import annotations

from typing import Any, Final

from app.vision.verdict import FrameVerdict

_ANOMALOUS_OBJECTS: Final = frozenset({"cell phone", "book"})


def frame_data(verdict: FrameVerdict, reused: bool, counts: dict[str, int]) -> dict[str, Any]:
    """The `frame_analyzed` event's data: what scoring and the episodes read, kept small."""
    # A reused verdict's objects were seen on an earlier frame: this one was not checked.
    objects = None if reused or verdict.objects is None else verdict.objects
    data: dict[str, Any] = {
        "usable": verdict.quality.usable,
        "faces": verdict.face_count,
        "objects": None if objects is None else [o.label for o in objects],
        **counts,
    }
    if not verdict.quality.usable:
        data["quality"] = verdict.quality.reason
    if verdict.faces:
        data["faceConfidence"] = round(max(face.confidence for face in verdict.faces), 4)
        data["lookingAway"] = verdict.looking_away
    if objects:
        best: dict[str, float] = {}
        for found in objects:
            best[found.label] = max(best.get(found.label, 0.0), round(found.confidence, 4))
        data["objectConfidence"] = best
    if reused:
        data["reused"] = True
    else:
        data["ms"] = verdict.timings.total_ms
    return data


def anomalies_after(verdict: FrameVerdict, before: frozenset[str]) -> frozenset[str]:
    """The anomalies a camera shows after this verdict. What the verdict could not judge (faces
    on an unusable frame, objects on a frame not checked for them) stays as it was."""
    if verdict.face_count is None:
        faces = before - _ANOMALOUS_OBJECTS
    else:
        faces = frozenset(
            kind
            for kind, shown in (
                ("no face", verdict.face_count == 0),
                ("several faces", verdict.face_count > 1),
                ("looking away", bool(verdict.looking_away)),
            )
            if shown
        )
    if verdict.objects is None:
        objects = before & _ANOMALOUS_OBJECTS
    else:
        objects = frozenset(found.label for found in verdict.objects) & _ANOMALOUS_OBJECTS
    return faces | objects
