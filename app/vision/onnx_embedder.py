"""Recognition ONNX models that take a 112x112 face aligned on ArcFace's template, run with
onnxruntime on one thread: OpenCV Zoo's SFace (128 dimensions) and insightface's ArcFace (512).
They differ only in what they call a pixel, which `InputScaling` says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import onnxruntime as ort

from app.settings.vision import RecognitionModelName
from app.vision.alignment import ARCFACE_SIDE, align_arcface
from app.vision.errors import ModelUnavailable
from app.vision.image import Pixels
from app.vision.recognition import Embedded, NotEmbedded, normalise, too_small
from app.vision.verdict import Face

ERRORS_ONLY: Final = 3


@dataclass(frozen=True, slots=True)
class InputScaling:
    """The model's input is RGB, channels first, (pixel - mean) / scale."""

    mean: float
    scale: float


# OpenCV's FaceRecognizerSF feeds SFace blobFromImage(face, 1.0, swapRB): raw RGB values.
SFACE_INPUT: Final = InputScaling(mean=0.0, scale=1.0)
# insightface's ArcFaceONNX: input_mean = input_std = 127.5.
ARCFACE_INPUT: Final = InputScaling(mean=127.5, scale=127.5)


class OnnxEmbedder:
    def __init__(self, name: RecognitionModelName, model: Path, scaling: InputScaling) -> None:
        self.name: RecognitionModelName = name
        self._scaling = scaling
        options = ort.SessionOptions()
        # One thread: the process pool is where the parallelism comes from.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = ERRORS_ONLY
        self._session = ort.InferenceSession(
            weights_as_constants(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        wanted = self._session.get_inputs()[0]
        if list(wanted.shape[1:]) != [3, ARCFACE_SIDE, ARCFACE_SIDE]:
            raise ModelUnavailable(
                f"{model} takes {wanted.shape}, expected [n, 3, {ARCFACE_SIDE}, {ARCFACE_SIDE}]: "
                "set vision.recognition_model_path to a recognition ONNX of that input"
            )
        self._input = wanted.name
        self.dimensions = int(self._session.get_outputs()[0].shape[-1])

    def embed(self, image: Pixels, face: Face) -> Embedded | NotEmbedded:
        if too_small(image, face):
            return NotEmbedded(reason="too_small")
        aligned = align_arcface(image, face)
        if aligned is None:
            return NotEmbedded(reason="no_keypoints")
        return Embedded(model=self.name, vector=normalise(self.run(aligned)).tolist())

    def run(self, aligned: Pixels) -> np.ndarray:
        """The model's raw output for one aligned 112x112 BGR face."""
        tensor = aligned[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
        if self._scaling.mean or self._scaling.scale != 1.0:
            tensor = (tensor - np.float32(self._scaling.mean)) / np.float32(self._scaling.scale)
        (output,) = self._session.run(None, {self._input: tensor})
        return np.asarray(output[0], dtype=np.float32)


def weights_as_constants(model: Path) -> str | bytes:
    """The model with its weights no longer listed among its inputs. SFace's export lists them
    there, which stops onnxruntime folding them: 59 ms an embedding against 42 here (one
    thread, same output to 3e-6), and a warning per weight. Without the onnx package (the
    single binary leaves it out) the model loads as it is."""
    try:
        import onnx
    except ImportError:
        return str(model)
    graph = onnx.load(str(model))
    weights = {initializer.name for initializer in graph.graph.initializer}
    inputs = [value for value in graph.graph.input if value.name not in weights]
    del graph.graph.input[:]
    graph.graph.input.extend(inputs)
    return bytes(graph.SerializeToString())
