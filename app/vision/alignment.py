"""A face cut out upright and to scale from the detector's keypoints, for a recognition model.

Recognition models are trained on faces warped so that the eyes, nose and mouth land on fixed
points; an unaligned crop costs far more accuracy than any difference between models. The warp
is a similarity (rotation, uniform scale, shift: no shear), fitted by least squares to the points
both sides know."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from app.vision.image import Pixels
from app.vision.verdict import Face

Points = npt.NDArray[np.float64]

# ArcFace's 112x112 template (insightface's `arcface_dst`): eyes as seen left then right, nose
# tip, mouth corners. BlazeFace marks the mouth's centre, not its corners, so it is matched to
# the corners' midpoint.
ARCFACE_SIDE: Final = 112
ARCFACE_EYES_NOSE: Final = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366]], dtype=np.float64
)
ARCFACE_MOUTH_CORNERS: Final = np.array([[41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def similarity_transform(source: Points, target: Points) -> Points:
    """The 2x3 matrix of the similarity that best maps `source` onto `target` (n >= 2 points),
    by Umeyama's closed form: no iteration, no random sampling, the same answer every time."""
    if source.shape != target.shape or source.ndim != 2 or source.shape[0] < 2:
        raise ValueError(
            f"expected two (n, 2) arrays of the same shape with n >= 2, got {source.shape} "
            f"and {target.shape}"
        )
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    variance = float((src**2).sum()) / len(source)
    if variance <= 1e-12:
        raise ValueError("the source points coincide: no transform maps them")
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign)) / variance
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def arcface_points(face: Face, width: int, height: int) -> tuple[Points, Points] | None:
    """(keypoints in pixels, their template points), or None when the face has too few."""
    if len(face.keypoints) not in (5, 6):
        return None
    points = np.array(face.keypoints, dtype=np.float64) * (width, height)
    if len(points) == 5:  # insightface: eyes, nose, mouth corners
        return points, np.concatenate([ARCFACE_EYES_NOSE, ARCFACE_MOUTH_CORNERS])
    if len(points) == 6:  # BlazeFace: eyes, nose, mouth centre, ear tragions (not in the template)
        mouth = ARCFACE_MOUTH_CORNERS.mean(axis=0, keepdims=True)
        return points[:4], np.concatenate([ARCFACE_EYES_NOSE, mouth])
    return None


def align_arcface(image: Pixels, face: Face) -> Pixels | None:
    """The face warped onto ArcFace's 112x112 template (BGR), or None without usable keypoints
    (none, or all on one spot)."""
    height, width = image.shape[:2]
    found = arcface_points(face, width, height)
    if found is None:
        return None
    try:
        matrix = similarity_transform(*found)
    except ValueError:
        return None
    return np.asarray(
        cv2.warpAffine(
            image, matrix, (ARCFACE_SIDE, ARCFACE_SIDE), flags=cv2.INTER_LINEAR, borderValue=0
        ),
        dtype=np.uint8,
    )
