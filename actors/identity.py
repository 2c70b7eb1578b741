"""Who is on camera, pure: the reference face, matching each usable frame against it, and
mismatch episodes raised once each (CONTRACT.md section 9.1).

Two halves, because embeddings are biometric data:
- `Biometrics` holds the reference embedding and, while enrolling from frames, the candidate
  embeddings. It never enters an event or the snapshot: the wiring keeps it sealed with the
  session's data key. `judge` compares a frame with it and says what the frame means.
- `IdentityState` is part of the session's snapshot and holds no embedding: status, which
  reference, the last score, the open mismatch run. `observe` folds stored events into it (the
  frame's verdict carries only its score, see `frame_data`), and `due` says which events to store
  next: `identity_mismatch` once a run of non-matching frames has lasted
  `IdentityRules.mismatch_seconds` over `mismatch_min_frames`, and `identity_episode_ended` when
  a matching frame ends a raised run. Stored events mark the run, so a replay agrees.

A frame too poor to tell (unusable, no face or several, a face too small to embed) gives no
`Judgement` score and counts for nothing: it neither extends nor ends a run, nor enrols.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from actors.events import StoredEvent, elapsed_ms

IdentityStatus = Literal["none", "enrolled", "verified", "mismatch"]
ReferenceKind = Literal["photo", "frames"]
IDENTITY_MISMATCH: Final = "identity_mismatch"  # violation IDENTITY_MISMATCH, HIGH
IDENTITY_EPISODE_ENDED: Final = "identity_episode_ended"  # data {violationOffset, episode}
IDENTITY_ENROLLED: Final = "identity_enrolled"  # data {reference: "photo" | "frames"}
# POST .../calibration (the system check before the exam): data {passed, faces, usable, ...}
CALIBRATION_CHECKED: Final = "calibration_checked"
# The stored events `observe` reads.
OBSERVED: Final = frozenset(
    {IDENTITY_ENROLLED, IDENTITY_MISMATCH, IDENTITY_EPISODE_ENDED, "frame_analyzed"}
)
# The scores kept as a mismatch's evidence: the run's first ones (a long run is summed up by its
# frame count and lowest score).
EVIDENCE_SCORES: Final = 10


class IdentityRules(msgspec.Struct, frozen=True, kw_only=True):
    # Cosine similarity under which a face is not the reference person ([vision]
    # identity_match_threshold, measured by benchmarks/identity.py).
    threshold: float = 0.43
    # Enrolment from frames: this many usable one-face frames, each matching all the others.
    enrol_frames: int = 3
    mismatch_seconds: float = 5.0
    mismatch_min_frames: int = 2


class Sighting(msgspec.Struct, frozen=True, kw_only=True):
    """What one analysed frame shows identity: `embedding` only for exactly one usable face."""

    usable: bool
    faces: int | None  # None: the frame could not be judged
    embedding: tuple[float, ...] | None = None


class Biometrics(msgspec.Struct, kw_only=True):
    """Sealed at rest, never published: the reference and the enrolment candidates."""

    reference: list[float] | None = None
    kind: ReferenceKind | None = None
    candidates: list[list[float]] = msgspec.field(default_factory=list)


class Judgement(msgspec.Struct, frozen=True, kw_only=True):
    """What a frame means: `score` against the reference (None: counts for nothing), or the
    reference it completed (`enrolled`)."""

    score: float | None = None
    match: bool | None = None
    enrolled: ReferenceKind | None = None


NOTHING: Final = Judgement()


def unit(vector: npt.ArrayLike) -> npt.NDArray[np.float64]:
    values = np.asarray(vector, dtype=np.float64).ravel()
    length = float(np.linalg.norm(values))
    if not np.isfinite(length) or length == 0.0:
        raise ValueError(f"expected a non-zero finite embedding, got one of length {length}")
    return values / length


def similarity(first: npt.ArrayLike, second: npt.ArrayLike) -> float:
    a, b = unit(first), unit(second)
    if a.shape != b.shape:
        raise ValueError(
            f"expected embeddings of one model, got {a.shape[0]} and {b.shape[0]} dimensions"
        )
    return float(np.clip(a @ b, -1.0, 1.0))


def set_photo(biometrics: Biometrics, embedding: tuple[float, ...]) -> None:
    """A reference photo replaces any reference and ends an enrolment from frames."""
    biometrics.reference = unit(embedding).tolist()
    biometrics.kind = "photo"
    biometrics.candidates = []


def judge(rules: IdentityRules, biometrics: Biometrics, sighting: Sighting) -> Judgement:
    """Compare a frame with the reference, or enrol from it while there is none."""
    if not sighting.usable or sighting.faces != 1 or sighting.embedding is None:
        return NOTHING
    if biometrics.reference is None:
        return _enrol(rules, biometrics, sighting.embedding)
    score = round(similarity(biometrics.reference, sighting.embedding), 4)
    return Judgement(score=score, match=score >= rules.threshold)


def _enrol(rules: IdentityRules, biometrics: Biometrics, embedding: tuple[float, ...]) -> Judgement:
    """Keep the frame if it agrees with every kept one; else start again from it (the first
    frames may show someone else helping, or a face half in view). Enough agreeing frames
    become the reference: their mean direction."""
    vector = unit(embedding).tolist()
    agrees = all(similarity(vector, kept) >= rules.threshold for kept in biometrics.candidates)
    biometrics.candidates = [*biometrics.candidates, vector] if agrees else [vector]
    if len(biometrics.candidates) < rules.enrol_frames:
        return NOTHING
    biometrics.reference = unit(np.mean(biometrics.candidates, axis=0)).tolist()
    biometrics.kind = "frames"
    biometrics.candidates = []
    return Judgement(enrolled="frames")


def frame_data(judgement: Judgement) -> dict[str, Any] | None:
    """The `identity` entry of a frame_analyzed event's data: the score, never the embedding."""
    if judgement.score is None:
        return None
    return {"score": judgement.score, "match": judgement.match}


class MismatchRun(msgspec.Struct, kw_only=True):
    start: str
    startOffset: int
    last: str
    lastOffset: int
    frames: int = 1
    lowest: float = 1.0
    scores: list[float] = msgspec.field(default_factory=list)
    raisedOffset: int | None = None
    ended: str | None = None  # the ts of the matching frame that ended it
    endOffset: int | None = None


class IdentitySummary(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """`identity` in the published SessionState (admin snapshots, channels)."""

    status: IdentityStatus = "none"
    reference: ReferenceKind | None = None
    lastMatchScore: float | None = None


NOT_CHECKED: Final = IdentitySummary()


class IdentityState(msgspec.Struct, kw_only=True):
    """Part of the session's snapshot (no embedding): what `identity` on the session says."""

    status: IdentityStatus = "none"
    reference: ReferenceKind | None = None
    lastMatchScore: float | None = None
    matched: int = 0
    mismatched: int = 0
    run: MismatchRun | None = None

    def summary(self) -> IdentitySummary:
        if self.status == "none" and self.reference is None:
            return NOT_CHECKED  # most sessions: no allocation per published state
        return IdentitySummary(
            status=self.status, reference=self.reference, lastMatchScore=self.lastMatchScore
        )

    def public(self) -> dict[str, Any]:
        """`identity` as GET /candidate-sessions/:id shows it."""
        shown: dict[str, Any] = {"status": self.status, "reference": self.reference}
        if self.lastMatchScore is not None:
            shown["lastMatchScore"] = self.lastMatchScore
        return shown


class Due(msgspec.Struct, frozen=True, kw_only=True):
    """An event the actor should store now, and the frame (by its event's offset) to keep."""

    type: str
    data: dict[str, Any]
    frameOffset: int


def observe(state: IdentityState, event: StoredEvent) -> None:
    data = event.data or {}
    if event.type == IDENTITY_ENROLLED:
        _enrolled(state, data, event)
    elif event.type == "frame_analyzed" and isinstance(data.get("identity"), dict):
        _scored(state, data["identity"], event)
    elif event.type == IDENTITY_MISMATCH and state.run is not None:
        state.run.raisedOffset = event.offset
        state.status = "mismatch"
    elif event.type == IDENTITY_EPISODE_ENDED:
        state.run = None


def due(rules: IdentityRules, state: IdentityState) -> list[Due]:
    run = state.run
    if run is None:
        return []
    if run.ended is not None and run.raisedOffset is not None:
        return [
            Due(
                type=IDENTITY_EPISODE_ENDED,
                data={"violationOffset": run.raisedOffset, "episode": _episode(run, run.ended)},
                frameOffset=run.endOffset or run.lastOffset,
            )
        ]
    long_enough = (
        run.frames >= rules.mismatch_min_frames
        and elapsed_ms(run.start, run.last) >= rules.mismatch_seconds * 1000
    )
    if run.raisedOffset is None and long_enough:
        data = {"episode": _episode(run), "scores": list(run.scores), "threshold": rules.threshold}
        return [Due(type=IDENTITY_MISMATCH, data=data, frameOffset=run.lastOffset)]
    return []


def _enrolled(state: IdentityState, data: dict[str, Any], event: StoredEvent) -> None:
    kind = data.get("reference")
    if kind not in ("photo", "frames"):
        return
    state.reference = kind
    state.status = "enrolled"
    state.lastMatchScore = None
    if state.run is not None and state.run.raisedOffset is not None:
        # Measured against a reference that is gone: the episode ends here.
        state.run.ended, state.run.endOffset = event.ts, event.offset
    else:
        state.run = None


def _scored(state: IdentityState, identity: dict[str, Any], event: StoredEvent) -> None:
    score = identity.get("score")
    if not isinstance(score, int | float) or state.reference is None:
        return
    state.lastMatchScore = float(score)
    run = state.run
    if identity.get("match"):
        state.matched += 1
        state.status = "verified"
        if run is not None and run.ended is None:
            if run.raisedOffset is None:
                state.run = None  # too short to count: forgotten
            else:
                run.ended, run.endOffset = event.ts, event.offset
        return
    state.mismatched += 1
    if run is None:
        state.run = MismatchRun(
            start=event.ts,
            startOffset=event.offset,
            last=event.ts,
            lastOffset=event.offset,
            lowest=float(score),
            scores=[float(score)],
        )
    elif run.ended is None:
        run.frames += 1
        run.last, run.lastOffset = event.ts, event.offset
        run.lowest = min(run.lowest, float(score))
        if len(run.scores) < EVIDENCE_SCORES:
            run.scores.append(float(score))
    # An ended run waits for its end event; this frame starts nothing yet.


def _episode(run: MismatchRun, end: str | None = None) -> dict[str, Any]:
    episode: dict[str, Any] = {
        "kind": "identity_mismatch",
        "start": run.start,
        "durationMs": elapsed_ms(run.start, end or run.last),
        "frames": run.frames,
        "startOffset": run.startOffset,
        "lowestScore": run.lowest,
    }
    if end is not None:
        episode["end"] = end
    return episode
