"""Face recognition on real faces that installed wheels ship: the same person across what a
webcam does to a picture matches, the six people of insightface's t1.jpg do not match each
other, poor faces are "couldn't tell", and a missing model says so instead of raising."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import cv2
import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.settings.vision import RecognitionModelName, VisionConfig
from app.vision.alignment import align_arcface, similarity_transform
from app.vision.boxes import Box
from app.vision.faces import BlazeFace
from app.vision.image import Pixels
from app.vision.models import SFACE, packaged_file
from app.vision.onnx_embedder import OnnxEmbedder
from app.vision.recognition import (
    MIN_FACE_PIXELS,
    Embedded,
    FaceEmbedder,
    NotEmbedded,
    RecognitionUnavailable,
    cosine,
    load_embedder,
    normalise,
)
from app.vision.verdict import Face

# Thresholds measured by benchmarks/identity.py; config.toml holds SFace's.
THRESHOLD: dict[RecognitionModelName, float] = {"sface": 0.43, "arcface": 0.38}


def wheel_file(distribution: str, path: str) -> Pixels:
    located = Path(str(metadata.distribution(distribution).locate_file(path)))
    image = cv2.imread(str(located), cv2.IMREAD_COLOR)
    assert image is not None, f"{located} did not decode"
    return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="module")
def detector() -> BlazeFace:
    return BlazeFace(min_confidence=0.5, looking_away_yaw=35.0)


@pytest.fixture(scope="module", params=["sface", "arcface"])
def embedder(request: pytest.FixtureRequest) -> FaceEmbedder:
    loaded = load_embedder(request.param)
    assert not isinstance(loaded, RecognitionUnavailable), loaded
    return loaded


def one_face(detector: BlazeFace, image: Pixels) -> Face:
    faces = detector.detect(image)
    assert len(faces) == 1, f"expected one face, BlazeFace found {len(faces)}"
    return faces[0]


def embed(embedder: FaceEmbedder, detector: BlazeFace, image: Pixels) -> Embedded:
    result = embedder.embed(image, one_face(detector, image))
    assert isinstance(result, Embedded), result
    return result


def jpeg(image: Pixels, quality: int) -> Pixels:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), dtype=np.uint8)


def shifted(image: Pixels) -> Pixels:
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[h // 10 :, w // 8 :])


def rescaled(image: Pixels) -> Pixels:
    return np.asarray(cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA))


def relit(image: Pixels) -> Pixels:
    return np.clip(image.astype(np.float32) * 0.6 + 10, 0, 255).astype(np.uint8)


def blurred(image: Pixels) -> Pixels:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), 1.5), dtype=np.uint8)


def rotated(image: Pixels) -> Pixels:
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1.0)
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT))


WEBCAM: dict[str, Callable[[Pixels], Pixels]] = {
    "shifted": shifted,
    "rescaled": rescaled,
    "relit": relit,
    "blurred": blurred,
    "rotated": rotated,
    "mirrored": lambda image: np.ascontiguousarray(image[:, ::-1]),
    "recompressed": lambda image: jpeg(image, 20),
    "all": lambda image: jpeg(blurred(relit(rescaled(shifted(image)))), 40),
}


def test_the_configured_threshold_is_sface_s_measured_one() -> None:
    assert VisionConfig().recognition_model == "sface"
    assert VisionConfig().identity_match_threshold == THRESHOLD["sface"]


@pytest.mark.parametrize(
    ("distribution", "path"),
    [
        ("scikit-image", "skimage/data/astronaut.png"),
        ("insightface", "insightface/data/images/Tom_Hanks_54745.png"),
    ],
)
def test_the_same_person_matches_across_what_a_webcam_does(
    embedder: FaceEmbedder, detector: BlazeFace, distribution: str, path: str
) -> None:
    picture = wheel_file(distribution, path)
    if picture.shape[0] < 200:  # Tom Hanks is a 112x112 crop: give him a webcam's room
        picture = cv2.copyMakeBorder(picture, 56, 56, 56, 56, cv2.BORDER_REPLICATE)
    reference = embed(embedder, detector, jpeg(picture, 95))
    assert len(reference.vector) == embedder.dimensions
    assert np.linalg.norm(reference.vector) == pytest.approx(1.0, abs=1e-5)
    threshold = THRESHOLD[embedder.name]
    for name, change in WEBCAM.items():
        score = cosine(reference, embed(embedder, detector, jpeg(change(picture), 80)))
        assert score >= threshold, f"{embedder.name}, {name}: {score:.3f} < {threshold}"


def test_the_six_people_of_t1_do_not_match_each_other(
    embedder: FaceEmbedder, detector: BlazeFace
) -> None:
    picture = wheel_file("insightface", "insightface/data/images/t1.jpg")
    faces = detector.detect(picture)
    assert len(faces) == 6
    vectors = [embedder.embed(picture, face) for face in faces]
    assert all(isinstance(v, Embedded) for v in vectors)
    threshold = THRESHOLD[embedder.name]
    for (i, a), (j, b) in itertools.combinations(enumerate(vectors), 2):
        assert isinstance(a, Embedded) and isinstance(b, Embedded)
        score = cosine(a, b)
        assert score < threshold, f"{embedder.name}: t1 faces {i} and {j} score {score:.3f}"
        # Each face still matches itself, re-embedded from a recompressed copy.
    again = embedder.embed(jpeg(picture, 60), faces[0])
    assert isinstance(again, Embedded) and isinstance(vectors[0], Embedded)
    assert cosine(vectors[0], again) >= threshold


def test_a_face_too_small_or_without_keypoints_is_couldnt_tell(embedder: FaceEmbedder) -> None:
    image = np.full((480, 640, 3), 128, dtype=np.uint8)
    small = Face(
        box=Box(0.4, 0.4, 0.4 + (MIN_FACE_PIXELS - 2) / 640, 0.5),
        confidence=0.9,
        yaw=0.0,
        looking_away=False,
        keypoints=(
            (0.41, 0.42),
            (0.44, 0.42),
            (0.425, 0.45),
            (0.425, 0.47),
            (0.4, 0.43),
            (0.45, 0.43),
        ),
    )
    assert embedder.embed(image, small) == NotEmbedded(reason="too_small")
    bare = Face(box=Box(0.2, 0.2, 0.6, 0.7), confidence=0.9, yaw=None, looking_away=False)
    assert embedder.embed(image, bare) == NotEmbedded(reason="no_keypoints")


def test_sface_gives_what_opencv_s_own_recogniser_gives(detector: BlazeFace) -> None:
    picture = wheel_file("scikit-image", "skimage/data/astronaut.png")
    aligned = align_arcface(picture, one_face(detector, picture))
    assert aligned is not None and aligned.shape == (112, 112, 3)
    loaded = load_embedder("sface")
    assert isinstance(loaded, OnnxEmbedder)
    ours = loaded.run(aligned)
    theirs = cv2.FaceRecognizerSF.create(str(packaged_file(SFACE)), "").feature(aligned).ravel()
    assert np.abs(ours - theirs).max() < 1e-3


def test_no_model_is_a_clear_unavailable_result(tmp_path: Path) -> None:
    none = load_embedder("none")
    assert isinstance(none, RecognitionUnavailable)
    assert "not checked" in none.reason
    missing = load_embedder("sface", str(tmp_path / "absent.onnx"))
    assert isinstance(missing, RecognitionUnavailable)
    assert "vision.recognition_model_path" in missing.reason
    assert "absent.onnx" in missing.reason


def test_embeddings_of_different_models_do_not_compare() -> None:
    with pytest.raises(ValueError, match="enrolled again"):
        cosine(normalise(np.ones(128)), normalise(np.ones(512)))
    with pytest.raises(ValueError, match="non-zero"):
        normalise(np.zeros(128))


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-np.pi, np.pi),
    st.floats(0.2, 5.0),
    st.floats(-200, 200),
    st.floats(-200, 200),
)
def test_the_alignment_recovers_any_similarity(
    angle: float, scale: float, dx: float, dy: float
) -> None:
    source = np.array([[30.0, 50.0], [80.0, 48.0], [55.0, 75.0], [56.0, 95.0]])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ rotation.T + [dx, dy]
    matrix = similarity_transform(source, target)
    assert np.allclose(matrix[:, :2], rotation, atol=1e-6)
    assert np.allclose(matrix[:, 2], [dx, dy], atol=1e-5)


def test_the_alignment_refuses_points_it_cannot_fit() -> None:
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(np.ones((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        similarity_transform(np.ones((4, 2)), np.zeros((5, 2)))


def test_insightface_s_five_points_align_like_blazeface_s_four(
    embedder: FaceEmbedder, detector: BlazeFace
) -> None:
    # insightface's detectors mark the mouth's corners where BlazeFace marks its centre: the
    # same face placed either way gives the same person.
    picture = wheel_file("scikit-image", "skimage/data/astronaut.png")
    face = one_face(detector, picture)
    (lx, ly), (rx, ry), nose, (mx, my) = face.keypoints[:4]
    half = 0.4 * (rx - lx)
    corners = ((mx - half, my), (mx + half, my))
    five = msgspec.structs.replace(face, keypoints=((lx, ly), (rx, ry), nose, *corners))
    by_four, by_five = embedder.embed(picture, face), embedder.embed(picture, five)
    assert isinstance(by_four, Embedded) and isinstance(by_five, Embedded)
    assert cosine(by_four, by_five) >= THRESHOLD[embedder.name]
