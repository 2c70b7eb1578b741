"""What one analysed frame says, as it crosses from a worker process back to the server."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from app.vision.boxes import Box
from app.vision.quality import FrameQuality

ObjectLabel = Literal["person", "cell phone", "book", "laptop"]
FaceBackendName = Literal["blazeface", "blazeface-short", "insightface"]


class Face(msgspec.Struct, frozen=True, kw_only=True):
    box: Box
    confidence: float
    # Degrees, positive when the face turns towards the right of the image; None when the
    # keypoints cannot tell.
    yaw: float | None
    looking_away: bool
    # Normalised (x, y): BlazeFace's 6 (eyes as seen in the image left then right, nose tip,
    # mouth, ear tragions) or insightface's 5 (eyes, nose tip, mouth corners).
    keypoints: tuple[tuple[float, float], ...] = ()


class DetectedObject(msgspec.Struct, frozen=True, kw_only=True):
    label: ObjectLabel
    confidence: float
    box: Box


class StageTimings(msgspec.Struct, frozen=True, kw_only=True):
    decode_ms: float
    quality_ms: float
    faces_ms: float | None = None
    objects_ms: float | None = None
    total_ms: float


class FrameVerdict(msgspec.Struct, frozen=True, kw_only=True):
    width: int  # as the JPEG declares it; boxes are fractions of it
    height: int
    quality: FrameQuality
    faces: list[Face]
    # None when the frame is unusable: "couldn't tell" is not "no face".
    face_count: int | None
    # The largest face's flag; None when there is no face to judge.
    looking_away: bool | None
    # None when the object detector did not run on this frame.
    objects: list[DetectedObject] | None
    face_backend: FaceBackendName
    object_backend: str | None
    timings: StageTimings


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(FrameVerdict)


def encode_verdict(verdict: FrameVerdict) -> bytes:
    return _encoder.encode(verdict)


def decode_verdict(data: bytes) -> FrameVerdict:
    return _decoder.decode(data)
