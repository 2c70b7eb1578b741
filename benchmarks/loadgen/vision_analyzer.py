"""Per worker: one `FrameAnalyzer` in a process pinned to one core, the way a vision pool worker
runs it (one OpenCV thread, one detector thread), timed on perturbed frames of real pictures."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Final

import cv2
import msgspec

from app.settings.vision import VisionConfig
from app.vision.analyzer import FrameAnalyzer
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
    rows: list[AnalyzerRow] = []
    for index, name in enumerate(images):
        maker = FrameMaker(name, still=False, seed=seed + index)
        jpegs = [maker.next() for _ in range(frames + WARMUP_FRAMES)]
        for objects in (False, True):
            rows.append(_time_analyze(analyzer, name, jpegs, detect_objects=objects))
        rows.append(_time_thumbnail(name, jpegs))
        identity = _time_identity(analyzer, name, jpegs)
        if identity is not None:
            rows.append(identity)
    return rows


def _time_analyze(
    analyzer: FrameAnalyzer, name: str, jpegs: list[bytes], *, detect_objects: bool
) -> AnalyzerRow:
    spent: list[float] = []
    faces: list[int | None] = []
    stages: list[tuple[float, float, float, float]] = []
    for i, jpeg in enumerate(jpegs):
        began = time.perf_counter()
        verdict = analyzer.analyze(jpeg, detect_objects=detect_objects)
        took = (time.perf_counter() - began) * 1000
        if i < WARMUP_FRAMES:
            continue
        spent.append(took)
        faces.append(verdict.face_count)
        t = verdict.timings
        stages.append((t.decode_ms, t.quality_ms, t.faces_ms or 0.0, t.objects_ms or 0.0))
    counted = statistics.multimode(faces)
    return AnalyzerRow(
        image=name,
        stage="faces + objects" if detect_objects else "faces",
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
