"""Boxes normalised to the frame (0-1, so they survive any scaling of the frame) and the two
non-maximum suppressions the detectors need."""

from __future__ import annotations

import msgspec
import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]


class Box(msgspec.Struct, frozen=True, array_like=True):
    """Corners as fractions of the frame's width and height: [x1, y1, x2, y2]."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)


def to_box(corners: Floats) -> Box:
    x1, y1, x2, y2 = (round(float(v), 4) for v in np.clip(corners, 0.0, 1.0))
    return Box(x1, y1, x2, y2)


def iou(box: Floats, others: Floats) -> Floats:
    """Intersection over union of one [x1, y1, x2, y2] box with each row of `others`."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def weighted_nms(rows: Floats, scores: Floats, threshold: float) -> list[tuple[Floats, float]]:
    """MediaPipe's WEIGHTED suppression: each kept detection is the score-weighted mean of the
    detections overlapping the best remaining one, with that best one's score. `rows` start with
    [x1, y1, x2, y2]; any further columns (keypoints) are averaged the same way."""
    order = np.argsort(-scores)
    rows, scores = rows[order], scores[order]
    kept: list[tuple[Floats, float]] = []
    remaining = np.ones(len(scores), dtype=bool)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        overlap = remaining & (iou(rows[i, :4], rows[:, :4]) > threshold)
        overlap[i] = True
        weights = scores[overlap]
        merged = (rows[overlap] * weights[:, None]).sum(axis=0) / weights.sum()
        kept.append((merged.astype(np.float32), float(scores[i])))
        remaining &= ~overlap
    return kept


def nms(
    boxes: Floats, scores: Floats, classes: npt.NDArray[np.intp], threshold: float
) -> list[int]:
    """Indices kept by greedy suppression, run separately for each class."""
    order = list(np.argsort(-scores))
    kept: list[int] = []
    while order:
        best = order.pop(0)
        kept.append(int(best))
        if not order:
            break
        rest = np.array(order)
        overlaps = iou(boxes[best], boxes[rest])
        same = classes[rest] == classes[best]
        order = [
            int(j)
            for j, o, s in zip(rest, overlaps, same, strict=True)
            if not (s and o > threshold)
        ]
    return kept
