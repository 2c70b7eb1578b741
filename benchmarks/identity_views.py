"""What a webcam does to a face, for benchmarks/identity.py: each view is a picture changed as a
camera, a room's light or a video encoder would change it, then encoded as a JPEG again."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]


def jpeg(image: Pixels, quality: int = 85) -> Pixels:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), dtype=np.uint8)


def scaled(image: Pixels, factor: float) -> Pixels:
    h, w = image.shape[:2]
    size = (max(8, round(w * factor)), max(8, round(h * factor)))
    shrink = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, size, interpolation=shrink), dtype=np.uint8)


def rotated(image: Pixels, degrees: float) -> Pixels:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.asarray(
        cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT), dtype=np.uint8
    )


def lit(image: Pixels, gain: float, offset: float = 0.0, gamma: float = 1.0) -> Pixels:
    values = (image.astype(np.float32) / 255.0) ** gamma * 255.0 * gain + offset
    return np.clip(values, 0, 255).astype(np.uint8)


def noisy(image: Pixels, sigma: float, seed: int) -> Pixels:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def blurred(image: Pixels, sigma: float) -> Pixels:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.uint8)


Perturb = Callable[[Pixels, int], Pixels]
# Shifts are done by the cut itself (see `cut`), so every view here keeps the face in frame.
VIEWS: dict[str, Perturb] = {
    "as is": lambda im, s: im,
    "shrunk 0.6": lambda im, s: scaled(im, 0.6),
    "shrunk 0.4": lambda im, s: scaled(im, 0.4),
    "enlarged 1.5": lambda im, s: scaled(im, 1.5),
    "rotated +12": lambda im, s: rotated(im, 12),
    "rotated -12": lambda im, s: rotated(im, -12),
    "mirrored": lambda im, s: np.ascontiguousarray(im[:, ::-1]),
    "darker": lambda im, s: lit(im, 0.55, gamma=1.3),
    "brighter": lambda im, s: lit(im, 1.25, 25),
    "flatter": lambda im, s: lit(im, 0.5, 64),
    "warm light": lambda im, s: np.clip(im * np.array([0.75, 0.95, 1.2]), 0, 255).astype(np.uint8),
    "blur 1.5": lambda im, s: blurred(im, 1.5),
    "noise 10": lambda im, s: noisy(im, 10, s),
    "jpeg 25": lambda im, s: jpeg(im, 25),
    "jpeg 10": lambda im, s: jpeg(im, 10),
    "all at once": lambda im, s: jpeg(
        noisy(blurred(lit(scaled(rotated(im, 6), 0.6), 0.7, 10), 1.0), 6, s), 35
    ),
}
SHIFTS: dict[str, tuple[float, float]] = {"": (0.0, 0.0), ", shifted": (0.25, -0.15)}
