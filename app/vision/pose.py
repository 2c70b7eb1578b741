"""Head yaw from 2D keypoints: how far the nose tip sits from the midpoint of the eyes, along the
eye line, turned into an angle with the depth of the nose in insightface's mean 3D face.

Sign: positive when the face turns towards the right of the image (the nose moves right), the
same sign as insightface's pose yaw. Measured along the eye line, so roll does not leak in."""

from __future__ import annotations

import math
from typing import Final

# In insightface's meanshape_68 the nose tip stands 1.07 half-eye-distances in front of the eye
# centres: a nose offset of r half-eye-distances means tan(yaw) = r / 1.07.
NOSE_DEPTH: Final = 1.07

Point = tuple[float, float]


def yaw_degrees(image_left_eye: Point, image_right_eye: Point, nose: Point) -> float | None:
    """Yaw in degrees, or None when the eyes coincide (a degenerate detection).

    Points are in pixels or in any unit with the same scale on both axes."""
    axis_x = image_right_eye[0] - image_left_eye[0]
    axis_y = image_right_eye[1] - image_left_eye[1]
    half = math.hypot(axis_x, axis_y) / 2
    if half < 1e-6:
        return None
    mid_x = (image_left_eye[0] + image_right_eye[0]) / 2
    mid_y = (image_left_eye[1] + image_right_eye[1]) / 2
    along = ((nose[0] - mid_x) * axis_x + (nose[1] - mid_y) * axis_y) / (2 * half)
    return math.degrees(math.atan2(along / half, NOSE_DEPTH))
