"""One JPEG in, one `FrameVerdict` out: decode, judge the quality, then (only on a usable frame)
count faces and, when asked, look for objects. Also the entry points of a vision pool worker."""

from __future__ import annotations

import time
from typing import Final, NamedTuple

import cv2
import msgspec
import numpy as np

from app.settings.vision import VisionConfig
from app.vision.errors import FrameRejected
from app.vision.faces import FULL_RANGE, SHORT_RANGE, BlazeFace, BlazeFaceModel, FaceDetector
from app.vision.image import Pixels, decode_jpeg
from app.vision.insightface_backend import InsightFaceDetector, pack_folder
from app.vision.models import object_model_path, packaged_file
from app.vision.objects import ObjectDetector
from app.vision.quality import MEASURE_WIDTH, FrameQuality, assess
from app.vision.recognition import Embedded, RecognitionUnavailable, load_embedder
from app.vision.similarity import similar, thumbnail
from app.vision.verdict import (
    DetectedObject,
    Face,
    FrameVerdict,
    StageTimings,
    encode_verdict,
)

__all__ = [
    "CAMERA_RESULT_DECODER",
    "PHOTO_RESULT_DECODER",
    "CameraResult",
    "FrameAnalyzer",
    "FrameRejected",
    "PhotoResult",
    "analyze_camera_frame",
    "analyze_frame",
    "analyze_photo",
    "check_models",
    "init_worker",
    "recognition_unavailable",
    "similar",
    "thumbnail",
    "worker_ready",
]


def check_models(config: VisionConfig) -> None:
    """Raise `ModelUnavailable` now, in the server, rather than in every pool worker."""
    if config.face_backend == "insightface":
        pack_folder(config.insightface_root, config.insightface_pack)
    else:
        packaged_file(_blazeface_model(config).packaged)
    object_model_path(config.object_model)


def face_detector(config: VisionConfig) -> FaceDetector:
    if config.face_backend == "insightface":
        return InsightFaceDetector(
            root=config.insightface_root,
            pack=config.insightface_pack,
            min_confidence=config.face_min_confidence,
            looking_away_yaw=config.looking_away_yaw_degrees,
        )
    return BlazeFace(
        min_confidence=config.face_min_confidence,
        looking_away_yaw=config.looking_away_yaw_degrees,
        spec=_blazeface_model(config),
    )


def _blazeface_model(config: VisionConfig) -> BlazeFaceModel:
    return SHORT_RANGE if config.face_backend == "blazeface-short" else FULL_RANGE


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 2)


class DecodedFrame(NamedTuple):
    image: Pixels  # BGR, maybe decoded at 1/2, 1/4 or 1/8 of its size (decode_jpeg)
    grey: Pixels
    width: int  # as the JPEG declares
    height: int
    started: float  # perf_counter() before and after decoding
    decoded: float


class FrameAnalyzer:
    """The detectors, loaded once per process; `analyze` is synchronous and not thread-safe."""

    def __init__(self, config: VisionConfig) -> None:
        self.config = config
        self.faces = face_detector(config)
        self.objects = ObjectDetector(
            object_model_path(config.object_model),
            min_confidence=config.object_min_confidence,
            input_size=config.object_input,
        )
        # Decoding larger than the largest input that reads the frame buys nothing: with
        # blazeface-short and objects at 320x256, a 640x480 frame is decoded at 320x240.
        self.decoded_side = max(MEASURE_WIDTH, self.faces.input_side, *config.object_input)
        self.embedder = load_embedder(config.recognition_model, config.recognition_model_path)

    def embedding(self, frame: DecodedFrame, verdict: FrameVerdict) -> list[float] | None:
        """The one usable face's embedding; None when there is no such face, it is too small to
        tell, or no recognition model runs."""
        if isinstance(self.embedder, RecognitionUnavailable) or verdict.face_count != 1:
            return None
        embedded = self.embedder.embed(frame.image, verdict.faces[0])
        return embedded.vector if isinstance(embedded, Embedded) else None

    def analyze(self, jpeg: bytes, *, detect_objects: bool) -> FrameVerdict:
        """The verdict on one JPEG; `FrameRejected` when the bytes are not a usable JPEG."""
        return self.analyze_decoded(self.decode(jpeg), detect_objects=detect_objects)

    def decode(self, jpeg: bytes) -> DecodedFrame:
        """The JPEG's pixels, in colour and in grey; `FrameRejected` when it is not a usable one."""
        start = time.perf_counter()
        image, width, height = decode_jpeg(jpeg, self.config.max_frame_pixels, self.decoded_side)
        grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        return DecodedFrame(image, grey, width, height, start, time.perf_counter())

    def analyze_decoded(self, frame: DecodedFrame, *, detect_objects: bool) -> FrameVerdict:
        quality = assess(frame.grey, self.config)
        judged = time.perf_counter()
        start, decoded = frame.started, frame.decoded
        if not quality.usable:
            # Couldn't tell: no detector runs, and nothing here may read as "no face".
            timings = StageTimings(
                decode_ms=_ms(start, decoded),
                quality_ms=_ms(decoded, judged),
                total_ms=_ms(start, judged),
            )
            return self._verdict(frame.width, frame.height, quality, None, None, timings)
        faces = self.faces.detect(frame.image)
        counted = time.perf_counter()
        objects = self.objects.detect(frame.image) if detect_objects else None
        done = time.perf_counter()
        timings = StageTimings(
            decode_ms=_ms(start, decoded),
            quality_ms=_ms(decoded, judged),
            faces_ms=_ms(judged, counted),
            objects_ms=_ms(counted, done) if detect_objects else None,
            total_ms=_ms(start, done),
        )
        return self._verdict(frame.width, frame.height, quality, faces, objects, timings)

    def _verdict(
        self,
        width: int,
        height: int,
        quality: FrameQuality,
        faces: list[Face] | None,
        objects: list[DetectedObject] | None,
        timings: StageTimings,
    ) -> FrameVerdict:
        main = max(faces, key=lambda face: face.box.area) if faces else None
        return FrameVerdict(
            width=width,
            height=height,
            quality=quality,
            faces=faces or [],
            face_count=None if faces is None else len(faces),
            looking_away=None if main is None else main.looking_away,
            objects=objects,
            face_backend=self.faces.name,
            object_backend=None if objects is None else self.objects.name,
            timings=timings,
        )


# The worker's analyzer, built by `init_worker` (the pool's initializer) once per process.
_analyzer: FrameAnalyzer | None = None
_CONFIG_DECODER: Final = msgspec.json.Decoder(VisionConfig)


def init_worker(config_json: bytes) -> None:
    """`ProcessPoolExecutor(initializer=init_worker, initargs=(msgspec.json.encode(config),))`."""
    global _analyzer
    # One OpenCV thread per worker, as for the detectors: the pool's size sets the parallelism.
    cv2.setNumThreads(1)
    _analyzer = FrameAnalyzer(_CONFIG_DECODER.decode(config_json))


def analyze_frame(jpeg: bytes, detect_objects: bool) -> bytes:
    """A worker's task: the msgpack-encoded `FrameVerdict` (see `verdict.decode_verdict`)."""
    if _analyzer is None:
        raise RuntimeError(
            "analyze_frame runs in a vision pool worker: expected init_worker to have built the "
            "analyzer, got none (pass initializer=init_worker to the ProcessPoolExecutor)"
        )
    return encode_verdict(_analyzer.analyze(jpeg, detect_objects=detect_objects))


class CameraResult(msgspec.Struct, frozen=True, kw_only=True):
    """A worker's answer for one camera's frame: a new verdict, or none when the frame barely
    differs from the camera's last analysed one (`reused`: the caller keeps the last verdict)."""

    verdict: FrameVerdict | None
    thumbnail: bytes  # 32x24 grey, to compare the camera's next frame with
    reused: bool
    # The one usable face's embedding, when identity was asked for and could be told.
    embedding: list[float] | None = None
    embed_ms: float | None = None


_RESULT_ENCODER: Final = msgspec.msgpack.Encoder()
CAMERA_RESULT_DECODER: Final = msgspec.msgpack.Decoder(CameraResult)


def analyze_camera_frame(
    jpeg: bytes, detect_objects: bool, previous: bytes | None, check_identity: bool = False
) -> bytes:
    """A worker's task for a live camera: `previous` is the thumbnail of its last analysed frame.
    A frame that barely differs reuses that verdict, unless objects are due (they are looked
    for on a schedule, and a still scene can still hold a phone). With `check_identity`, a
    frame with one usable face also gets that face's embedding. Encoded `CameraResult`.
    The thumbnail comes from the frame decoded for analysis: most webcam frames differ (sensor
    noise, a candidate moving), so one decode is cheaper than a quick 1/8-scale one to compare
    plus a full one (that quick decode alone is 0.6 ms of a 640x480 frame on one core here)."""
    if _analyzer is None:
        raise RuntimeError("analyze_camera_frame runs in a vision pool worker built by init_worker")
    frame = _analyzer.decode(jpeg)
    small = thumbnail(frame.grey)
    if previous is not None and not detect_objects:
        before = np.frombuffer(previous, dtype=np.uint8).reshape(small.shape)
        if similar(before, small, _analyzer.config.similar_frame_threshold):
            return _RESULT_ENCODER.encode(
                CameraResult(verdict=None, thumbnail=small.tobytes(), reused=True)
            )
    verdict = _analyzer.analyze_decoded(frame, detect_objects=detect_objects)
    embedding, embed_ms = None, None
    if check_identity and verdict.quality.usable:
        started = time.perf_counter()
        embedding = _analyzer.embedding(frame, verdict)
        embed_ms = _ms(started, time.perf_counter())
    return _RESULT_ENCODER.encode(
        CameraResult(
            verdict=verdict,
            thumbnail=small.tobytes(),
            reused=False,
            embedding=embedding,
            embed_ms=embed_ms,
        )
    )


class PhotoResult(msgspec.Struct, frozen=True, kw_only=True):
    """A reference photo, as a worker saw it: its faces, and the one face's embedding."""

    faces: int
    embedding: list[float] | None = None
    # Why there is no embedding of a one-face photo: "too_small", "no_keypoints", or the reason
    # no recognition model runs.
    reason: str | None = None


PHOTO_RESULT_DECODER: Final = msgspec.msgpack.Decoder(PhotoResult)


def analyze_photo(jpeg: bytes) -> bytes:
    """A worker's task for a reference photo: faces are looked for whatever the light (an ID
    photo is not a webcam frame), and the one face embedded. Encoded `PhotoResult`;
    `FrameRejected` when the bytes are not a usable JPEG."""
    if _analyzer is None:
        raise RuntimeError("analyze_photo runs in a vision pool worker built by init_worker")
    frame = _analyzer.decode(jpeg)
    faces = _analyzer.faces.detect(frame.image)
    if len(faces) != 1:
        return _RESULT_ENCODER.encode(PhotoResult(faces=len(faces)))
    embedder = _analyzer.embedder
    if isinstance(embedder, RecognitionUnavailable):
        return _RESULT_ENCODER.encode(PhotoResult(faces=1, reason=embedder.reason))
    embedded = embedder.embed(frame.image, faces[0])
    if isinstance(embedded, Embedded):
        return _RESULT_ENCODER.encode(PhotoResult(faces=1, embedding=embedded.vector))
    return _RESULT_ENCODER.encode(PhotoResult(faces=1, reason=embedded.reason))


def recognition_unavailable() -> str | None:
    """A worker's task: why no recognition model runs in it, or None when one does."""
    if _analyzer is None:
        raise RuntimeError("recognition_unavailable runs in a vision pool worker")
    embedder = _analyzer.embedder
    return embedder.reason if isinstance(embedder, RecognitionUnavailable) else None


def worker_ready() -> bool:
    """A no-op task: that it returns means the worker's initializer loaded the models."""
    return _analyzer is not None
