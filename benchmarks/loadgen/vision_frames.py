"""Webcam-like frames for `benchmarks/vision.py`: pictures that packages ship (scikit-image's
astronaut and coffee, insightface's t1.jpg), as 640x480 JPEGs, each one moved a little and given
sensor noise so that no two frames are the same bytes.

A moving camera's consecutive frames differ by at least `MIN_STEP` pixels of shift, which puts
them over the server's near-identical threshold (`vision.similar_frame_threshold`); a still
camera's frames differ only by noise, so the server may reuse their verdicts."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data as skdata

Image = npt.NDArray[np.uint8]

WIDTH: Final = 640
HEIGHT: Final = 480
QUALITY: Final = 80
MAX_SHIFT: Final = 12  # pixels either way, moving cameras
MIN_STEP: Final = 4  # pixels between consecutive frames of a moving camera, on one axis at least
NOISE_SIGMA: Final = 3.0  # grey levels of Gaussian sensor noise
# What each picture shows, for the tables: the server looks for objects on every frame after an
# anomaly (no face, several faces, looking away), so a camera's cost depends on it.
IMAGES: Final = {
    "astronaut": "1 face (scikit-image astronaut)",
    "t1": "several faces (insightface t1.jpg)",
    "coffee": "no face (scikit-image coffee)",
}


def source(name: str) -> Image:
    if name == "t1":
        path = metadata.distribution("insightface").locate_file("insightface/data/images/t1.jpg")
        image = cv2.imread(str(Path(str(path))))
        if image is None:
            raise SystemExit(f"expected insightface's t1.jpg at {path}, got nothing readable")
        return np.asarray(image, dtype=np.uint8)
    if name not in IMAGES:
        raise SystemExit(f"expected an image among {', '.join(IMAGES)}, got {name!r}")
    rgb = getattr(skdata, name)()
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def canvas(name: str) -> Image:
    """The picture scaled to cover 640x480 plus the shift margin on every side (then cropped)."""
    image = source(name)
    height, width = image.shape[:2]
    scale = max((WIDTH + 2 * MAX_SHIFT) / width, (HEIGHT + 2 * MAX_SHIFT) / height)
    size = (round(width * scale), round(height * scale))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


class FrameMaker:
    """Frames of one picture; `next()` is the camera's next frame."""

    def __init__(self, name: str, *, still: bool, seed: int) -> None:
        self.name = name
        self.still = still
        self.canvas = canvas(name)
        self.rng = np.random.default_rng(seed)
        self.offset = (0, 0)

    def next(self, *, avoid: tuple[int, int] | None = None) -> bytes:
        """The next frame; a moving camera's also differs by `MIN_STEP` from offset `avoid`."""
        if not self.still:
            self.offset = self._step(self.offset, avoid or self.offset)
        return self.render(self.offset)

    def _step(self, *previous: tuple[int, int]) -> tuple[int, int]:
        while True:
            dx, dy = (int(v) for v in self.rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2))
            if all(max(abs(dx - x), abs(dy - y)) >= MIN_STEP for x, y in previous):
                return dx, dy

    def render(self, offset: tuple[int, int]) -> bytes:
        height, width = self.canvas.shape[:2]
        x = (width - WIDTH) // 2 + offset[0]
        y = (height - HEIGHT) // 2 + offset[1]
        crop = self.canvas[y : y + HEIGHT, x : x + WIDTH].astype(np.float32)
        noise = self.rng.standard_normal(crop.shape, dtype=np.float32)
        crop += noise * np.float32(NOISE_SIGMA)
        pixels = np.clip(crop, 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode a {WIDTH}x{HEIGHT} JPEG of {self.name}")
        return encoded.tobytes()


def frame_loop(name: str, *, still: bool, seed: int, count: int) -> list[bytes]:
    """`count` frames that a camera may cycle through: consecutive ones, the last and the first
    included, are as different as two consecutive frames of `FrameMaker`."""
    maker = FrameMaker(name, still=still, seed=seed)
    frames = [maker.next()]
    first = maker.offset
    frames += [maker.next() for _ in range(count - 2)]
    frames.append(maker.next(avoid=first))
    return frames
