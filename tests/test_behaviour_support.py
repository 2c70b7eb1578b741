"""Synthetic candidates writing answers, for the behaviour tests: honest people and each kind of
cheater, as the observations the factors fold. No tests here; the behaviour test modules import
it (graded answers are in test_behaviour_support_graded.py).

The honest ones follow what typing studies report: inter-key intervals roughly log-normal with a
person's own mean (110-320 ms) and a spread (sigma 0.25-0.6) of their own, thinking pauses, a few
corrections, curved pointer strokes, per-question times that vary widely, sometimes a paste of
their own notes. Every generator is seeded, so a failure names its seed.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from actors.behaviour.answer_sheet import AnswerSheet
from actors.behaviour.answer_sheet import fold as fold_answer
from actors.behaviour.observations import AnswerSeen, WindowSeen, answer_key
from actors.behaviour_events import (
    INTERVAL_EDGES_MS,
    PAUSE_MS,
    WINDOW_MS,
    BehaviourWindowData,
    KeystrokeTiming,
    PointerMovement,
    TextInput,
    UntrustedInput,
)

START_MS = 1_796_000_000_000  # an assessment's start, ms since the epoch


def bucket(interval_ms: int) -> int:
    return bisect.bisect_right(INTERVAL_EDGES_MS, interval_ms) - 1


def keystroke_timing(keydowns: int, intervals: list[int]) -> KeystrokeTiming:
    histogram = [0] * len(INTERVAL_EDGES_MS)
    for interval in intervals:
        histogram[bucket(interval)] += 1
    burst = [i for i in intervals if i < PAUSE_MS]
    return KeystrokeTiming(
        keydowns=keydowns,
        intervals=tuple(histogram),
        burstSumMs=sum(burst),
        burstSumSqMs=sum(i * i for i in burst),
    )


@dataclass
class _Window:
    keydowns: int = 0
    intervals: list[int] = field(default_factory=list)
    typed: int = 0
    pasted: int = 0
    pastes: int = 0
    untrusted_keys: int = 0


@dataclass(frozen=True)
class Typist:
    mean_ms: float
    sigma: float
    pause_share: float = 0.04
    correction_share: float = 0.06
    untrusted: bool = False  # a script dispatching KeyboardEvents
    jitter_ms: int | None = None  # a script: a fixed delay +- this, instead of log-normal

    def interval(self, rng: np.random.Generator) -> int:
        if self.jitter_ms is not None:
            return int(self.mean_ms) + int(rng.integers(-self.jitter_ms, self.jitter_ms + 1))
        if rng.random() < self.pause_share:
            return int(rng.uniform(2_000, 20_000))
        mu = math.log(self.mean_ms) - self.sigma**2 / 2
        return max(15, round(float(rng.lognormal(mu, self.sigma))))


def human_typist(rng: np.random.Generator) -> Typist:
    return Typist(mean_ms=float(rng.uniform(110, 320)), sigma=float(rng.uniform(0.25, 0.6)))


@dataclass(frozen=True)
class Pointer:
    straight: bool = False  # a script's ruler-straight strokes

    def movement(self, rng: np.random.Generator) -> PointerMovement:
        strokes = int(rng.integers(0, 4))
        if not strokes:
            return PointerMovement()
        lengths = rng.uniform(40, 700, strokes)
        bends = np.ones(strokes) if self.straight else rng.uniform(0.75, 0.97, strokes)
        speed = float(rng.uniform(300, 1500))
        distance = float(lengths.sum())
        moving_ms = min(WINDOW_MS, max(1, math.ceil(distance / speed * 1000)))
        return PointerMovement(
            moves=int(distance // 8) + strokes,
            distancePx=distance,
            displacementPx=float((lengths * bends).sum()),
            strokes=strokes,
            pauses=strokes - 1,
            movingMs=moving_ms,
            maxSpeedPxPerS=distance / (moving_ms / 1000) * float(rng.uniform(1.3, 2.5)),
        )


class Session:
    """Builds one candidate's observations in event order, numbering offsets as the log would."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.offset = 0
        self.windows: list[WindowSeen] = []
        self.answers: list[AnswerSeen] = []
        self.clock_ms = START_MS

    def _next_offset(self) -> int:
        self.offset += 1
        return self.offset

    def write(
        self,
        question_id: str,
        chars: int,
        typist: Typist,
        pointer: Pointer,
        *,
        paste: int = 0,
        minimum_ms: int = 0,
    ) -> int:
        """Types `chars` characters (pasting `paste` more at a random moment) into one answer;
        returns the milliseconds it took."""
        rng = self.rng
        windows: dict[int, _Window] = {}
        t = previous = 0
        length = 0
        paste_at = int(rng.integers(0, max(chars, 1))) if paste else -1
        for key in range(chars):
            if key:
                t += typist.interval(rng)
            w = windows.setdefault(t // WINDOW_MS, _Window())
            w.keydowns += 1
            if key:
                w.intervals.append(t - previous)
            previous = t
            w.untrusted_keys += typist.untrusted
            if length and rng.random() < typist.correction_share:
                length -= 1  # a backspace: a keydown that types nothing
            else:
                w.typed += 1
                length += 1
            if key == paste_at:
                w.pasted += paste
                w.pastes += 1
                length += paste
        if paste and not chars:
            windows.setdefault(0, _Window(pasted=paste, pastes=1))
            length = paste
        end = max(t + 1, minimum_ms)
        running = 0
        for index in range(end // WINDOW_MS + 1):
            w = windows.get(index, _Window())
            running += w.typed + w.pasted
            span = min(WINDOW_MS, end - index * WINDOW_MS)
            if span <= 0:
                break
            data = BehaviourWindowData(
                windowMs=span,
                keys=keystroke_timing(w.keydowns, w.intervals),
                text=TextInput(
                    charsTyped=w.typed,
                    charsPasted=w.pasted,
                    pastes=w.pastes,
                    answerLength=min(running, length),
                ),
                pointer=pointer.movement(rng) if span == WINDOW_MS else PointerMovement(),
                untrusted=UntrustedInput(keyboard=w.untrusted_keys),
            )
            self.windows.append(
                WindowSeen(offset=self._next_offset(), questionId=question_id, window=data)
            )
        return end

    def answer(
        self,
        question_id: str,
        response: object,
        time_ms: int,
        *,
        correct: bool | None = None,
        difficulty: str | None = None,
        text: str = "",
    ) -> None:
        self.clock_ms += time_ms
        self.answers.append(
            AnswerSeen(
                offset=self._next_offset(),
                questionId=question_id,
                timeSpentMs=time_ms,
                submittedAtMs=self.clock_ms,
                key=answer_key(response),
                text=text,
                correct=correct,
                difficulty=difficulty,
            )
        )

    def sheet(self) -> AnswerSheet:
        sheet = AnswerSheet()
        for seen in self.answers:
            sheet = fold_answer(sheet, seen)
        return sheet


# --- whole candidates: written answers ---------------------------------------------------------

WRITTEN = 8  # free-text questions per assessment


def honest_writer(seed: int) -> Session:
    """Types every answer; on a third of sessions pastes some of their own notes into one."""
    s = Session(seed)
    typist, pointer = human_typist(s.rng), Pointer()
    pasted_into = int(s.rng.integers(0, WRITTEN)) if s.rng.random() < 0.33 else -1
    for q in range(WRITTEN):
        chars = int(s.rng.integers(60, 900))
        paste = int(chars * s.rng.uniform(0.1, 0.6)) if q == pasted_into else 0
        thinking = int(s.rng.lognormal(math.log(40_000), 0.6))
        took = s.write(f"w{q}", chars, typist, pointer, paste=paste, minimum_ms=thinking)
        s.answer(f"w{q}", f"answer {seed} {q}", took)
    return s


def paste_everything(seed: int) -> Session:
    s = Session(seed)
    typist, pointer = human_typist(s.rng), Pointer()
    for q in range(WRITTEN):
        chars = int(s.rng.integers(200, 900))
        took = s.write(
            f"w{q}",
            int(s.rng.integers(0, 15)),
            typist,
            pointer,
            paste=chars,
            minimum_ms=int(s.rng.uniform(20_000, 90_000)),
        )
        s.answer(f"w{q}", f"pasted {seed} {q}", took)
    return s


def script(seed: int, *, untrusted: bool) -> Session:
    """Types every answer at a fixed delay with a little jitter and waits the same time on each
    question; `untrusted` dispatches DOM events (isTrusted false), else drives a real input
    device (trusted events, so only the rhythm gives it away)."""
    s = Session(seed)
    typist = Typist(
        mean_ms=float(s.rng.integers(60, 200)), sigma=0, jitter_ms=8, untrusted=untrusted
    )
    pointer = Pointer(straight=True)
    for q in range(WRITTEN):
        chars = int(s.rng.integers(200, 700))
        s.write(f"w{q}", chars, typist, pointer, minimum_ms=90_000)
        s.answer(f"w{q}", f"scripted {seed} {q}", 90_000 + int(s.rng.integers(0, 500)))
    return s


def second_typist(seed: int) -> Session:
    """The candidate types the first half; someone with a clearly different rhythm the rest."""
    s = Session(seed)
    first = human_typist(s.rng)
    faster = s.rng.random() < 0.5
    ratio = float(s.rng.uniform(1.8, 2.4))
    mean = first.mean_ms / ratio if faster else first.mean_ms * ratio
    other = Typist(mean_ms=mean, sigma=float(s.rng.uniform(0.35, 0.6)))
    pointer = Pointer()
    for q in range(WRITTEN):
        typist = first if q < WRITTEN // 2 else other
        took = s.write(f"w{q}", int(s.rng.integers(200, 700)), typist, pointer)
        s.answer(f"w{q}", f"answer {seed} {q}", took)
    return s
