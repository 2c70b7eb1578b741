"""Is the frame usable at all? This runs before any detector, so that a frame too dark, too
bright, blurred or uniform reads as "couldn't tell", never as "no face"."""

from __future__ import annotations

from typing import Final, Literal

import cv2
import msgspec
import numpy as np
import numpy.typing as npt

from app.settings.vision import VisionConfig

Unusable = Literal["dark", "bright", "uniform", "blurred"]
# Measured at one width so that the sharpness threshold does not depend on the camera resolution.
MEASURE_WIDTH: Final = 320


class FrameQuality(msgspec.Struct, frozen=True, kw_only=True):
    usable: bool
    reason: Unusable | None
    brightness: float  # mean grey level, 0-255
    contrast: float  # standard deviation of the grey levels
    sharpness: float  # variance of the Laplacian at 320 pixels wide


def measure_grey(grey: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """`grey` resized to 320 pixels wide (area averaging when shrinking)."""
    height, width = grey.shape[:2]
    if width == MEASURE_WIDTH:
        return grey
    target = (MEASURE_WIDTH, max(1, round(height * MEASURE_WIDTH / width)))
    interpolation = cv2.INTER_AREA if width > MEASURE_WIDTH else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(grey, target, interpolation=interpolation), dtype=np.uint8)


def assess(grey: npt.NDArray[np.uint8], config: VisionConfig) -> FrameQuality:
    """The quality of a grey image of any size; the first failed check is the reason."""
    small = measure_grey(grey)
    mean, std = cv2.meanStdDev(small)
    brightness, contrast = float(mean[0, 0]), float(std[0, 0])
    sharpness = float(cv2.Laplacian(small, cv2.CV_64F).var())
    reason: Unusable | None = None
    # Dark and bright first: a black or white frame is also uniform, and the more specific word
    # tells the candidate what to fix.
    if brightness < config.too_dark_mean:
        reason = "dark"
    elif brightness > config.too_bright_mean:
        reason = "bright"
    elif contrast <= config.uniform_max_std:
        reason = "uniform"
    elif sharpness <= config.blurred_max_sharpness:
        reason = "blurred"
    return FrameQuality(
        usable=reason is None,
        reason=reason,
        brightness=round(brightness, 2),
        contrast=round(contrast, 2),
        sharpness=round(sharpness, 2),
    )
