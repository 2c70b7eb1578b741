"""Per worker: one `FrameAnalyzer` in a process pinned to one core, the way a vision pool worker
runs it (one OpenCV thread, one detector thread), timed on perturbed frames of real pictures."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Final

import cv2
import msgspec

from app.settings.vision import VisionConfig
from app.vision.analyzer import FrameAnalyzer
from app.vision.models import object_model_path
from app.vision.quantized import int8_model
from app.vision.similarity import thumbnail

from .vision_frames import FrameMaker

WARMUP_FRAMES: Final = 3


@dataclasses.dataclass(frozen=True)
class AnalyzerRow:
    image: str
    # "faces", "faces + objects", "thumbnail" (what a reused frame costs) or "identity" (the
    # embedding of the one usable face, on top of "faces", where the frame has one)
    stage: str
    frames: int
    median_ms: float
    p90_ms: float
    per_s: float  # frames per second of one core: 1000 / mean ms
    faces: str  # faces counted, most common first
    stages_ms: str  # median decode / quality / faces / objects


def bench_analyzer(
    cpu: int,
    images: list[str],
    frames: int,
    seed: int,
    face_backend: str | None = None,
    object_input: tuple[int, int] | None = None,
) -> list[AnalyzerRow]:
    """Run in a fresh process of its own (spawned), pinned to `cpu`."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_bench, cpu, images, frames, seed, face_backend, object_input).result()


def _bench(
    cpu: int,
    images: list[str],
    frames: int,
    seed: int,
    face_backend: str | None,
    object_input: tuple[int, int] | None,
) -> list[AnalyzerRow]:
    os.sched_setaffinity(0, {cpu})
    cv2.setNumThreads(1)
    chosen: dict[str, object] = {}
    if face_backend is not None:
        chosen["face_backend"] = face_backend
    if object_input is not None:
        chosen["object_input"] = object_input
    config = msgspec.convert(chosen, VisionConfig)
    analyzer = FrameAnalyzer(config)
    # The object model in int8 (vision.object_precision, the default), made as the server makes
    # it, timed frame by frame in turn with the float one.
    with tempfile.TemporaryDirectory() as cache:
        made = int8_model(object_model_path(config.object_model), Path(cache), config.object_input)
        int8 = FrameAnalyzer(msgspec.structs.replace(config, object_model=str(made)))
    rows: list[AnalyzerRow] = []
    for index, name in enumerate(images):
        maker = FrameMaker(name, still=False, seed=seed + index)
        jpegs = [maker.next() for _ in range(frames + WARMUP_FRAMES)]
        rows.append(_time_analyze(analyzer, name, jpegs, detect_objects=False))
        rows += _time_objects_in_turn({"fp32": analyzer, "int8": int8}, name, jpegs)
        rows.append(_time_thumbnail(name, jpegs))
        identity = _time_identity(analyzer, name, jpegs)
        if identity is not None:
            rows.append(identity)
    return rows


def _time_objects_in_turn(
    analyzers: dict[str, FrameAnalyzer], name: str, jpegs: list[bytes]
) -> list[AnalyzerRow]:
    """ "faces + objects" with each object model, alternating frame by frame (a noisy box
    slows both alike); the float model's row keeps its old name."""
    samples: dict[str, _Samples] = {precision: _Samples() for precision in analyzers}
    for i, jpeg in enumerate(jpegs):
        for precision, analyzer in analyzers.items():
            samples[precision].add(i, analyzer, jpeg, detect_objects=True)
    return [
        samples[precision].row(
            name, "faces + objects" if precision == "fp32" else f"faces + objects ({precision})"
        )
        for precision in analyzers
    ]


def _time_analyze(
    analyzer: FrameAnalyzer, name: str, jpegs: list[bytes], *, detect_objects: bool
) -> AnalyzerRow:
    samples = _Samples()
    for i, jpeg in enumerate(jpegs):
        samples.add(i, analyzer, jpeg, detect_objects=detect_objects)
    return samples.row(name, "faces + objects" if detect_objects else "faces")


class _Samples:
    def __init__(self) -> None:
        self.spent: list[float] = []
        self.faces: list[int | None] = []
        self.stages: list[tuple[float, float, float, float]] = []

    def add(self, i: int, analyzer: FrameAnalyzer, jpeg: bytes, *, detect_objects: bool) -> None:
        began = time.perf_counter()
        verdict = analyzer.analyze(jpeg, detect_objects=detect_objects)
        took = (time.perf_counter() - began) * 1000
        if i < WARMUP_FRAMES:
            return
        self.spent.append(took)
        self.faces.append(verdict.face_count)
        t = verdict.timings
        self.stages.append((t.decode_ms, t.quality_ms, t.faces_ms or 0.0, t.objects_ms or 0.0))

    def row(self, name: str, stage: str) -> AnalyzerRow:
        return _row(name, stage, self.spent, self.faces, self.stages)


def _row(
    name: str,
    stage: str,
    spent: list[float],
    faces: list[int | None],
    stages: list[tuple[float, float, float, float]],
) -> AnalyzerRow:
    counted = statistics.multimode(faces)
    return AnalyzerRow(
        image=name,
        stage=stage,
        frames=len(spent),
        median_ms=statistics.median(spent),
        p90_ms=_p90(spent),
        per_s=1000 / statistics.fmean(spent),
        faces=f"{counted[0]} ({faces.count(counted[0])}/{len(faces)})",
        stages_ms=" / ".join(f"{statistics.median(s):.1f}" for s in zip(*stages, strict=True)),
    )


def _time_identity(analyzer: FrameAnalyzer, name: str, jpegs: list[bytes]) -> AnalyzerRow | None:
    """What comparing a face with the reference adds to a frame: one embedding."""
    spent: list[float] = []
    for i, jpeg in enumerate(jpegs):
        frame = analyzer.decode(jpeg)
        verdict = analyzer.analyze_decoded(frame, detect_objects=False)
        if verdict.face_count != 1 or not verdict.quality.usable:
            continue
        began = time.perf_counter()
        embedding = analyzer.embedding(frame, verdict)
        took = (time.perf_counter() - began) * 1000
        if i >= WARMUP_FRAMES and embedding is not None:
            spent.append(took)
    if not spent:
        return None
    return AnalyzerRow(
        image=name,
        stage=f"identity ({analyzer.config.recognition_model})",
        frames=len(spent),
        median_ms=statistics.median(spent),
        p90_ms=_p90(spent),
        per_s=1000 / statistics.fmean(spent),
        faces=f"1 ({len(spent)}/{len(jpegs) - WARMUP_FRAMES})",
        stages_ms="embedding only",
    )


def _time_thumbnail(name: str, jpegs: list[bytes]) -> AnalyzerRow:
    spent: list[float] = []
    for jpeg in jpegs[WARMUP_FRAMES:]:
        began = time.perf_counter()
        thumbnail(jpeg)
        spent.append((time.perf_counter() - began) * 1000)
    return AnalyzerRow(
        image=name,
        stage="thumbnail",
        frames=len(spent),
        median_ms=statistics.median(spent),
        p90_ms=_p90(spent),
        per_s=1000 / statistics.fmean(spent),
        faces="-",
        stages_ms="-",
    )


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]
