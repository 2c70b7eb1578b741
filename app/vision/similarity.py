"""Near-identical frames: a 32x24 grey thumbnail per frame, compared by mean absolute difference,
lets a still candidate's frame reuse the last verdict instead of costing a detector run."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from app.settings.vision import DEFAULT_MAX_FRAME_PIXELS
from app.vision.image import decode_grey_reduced

THUMBNAIL_SIZE: Final = (32, 24)
Thumbnail = npt.NDArray[np.uint8]


def thumbnail(
    frame: bytes | npt.NDArray[np.uint8], *, max_pixels: int = DEFAULT_MAX_FRAME_PIXELS
) -> Thumbnail:
    """The 32x24 grey thumbnail of a JPEG (decoded at 1/8 scale, about a millisecond for
    640x480) or of a BGR or grey image. A bad JPEG raises `FrameRejected`."""
    if isinstance(frame, bytes):
        grey = decode_grey_reduced(frame, max_pixels)
    elif frame.ndim == 3:
        grey = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    else:
        grey = frame
    return np.asarray(cv2.resize(grey, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA), np.uint8)


def difference(a: Thumbnail, b: Thumbnail) -> float:
    """Mean absolute difference of two thumbnails, in grey levels (0-255)."""
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def similar(a: Thumbnail, b: Thumbnail, threshold: float) -> bool:
    """Whether `b` may reuse the verdict of `a` (`vision.similar_frame_threshold`)."""
    return a.shape == b.shape and difference(a, b) <= threshold
