"""Synthetic candidates for the behaviour tests: honest people and each kind of cheater, as the
observations the factors fold. No tests here; the behaviour test modules import it.

The honest ones follow what typing studies report: inter-key intervals roughly log-normal with a
person's own mean (110-320 ms) and a spread (sigma 0.35-0.6) of their own, thinking pauses, a few
corrections, curved pointer strokes, per-question times that vary widely, ability-driven right
and wrong answers (a logistic item model), sometimes a quick guess, sometimes a paste of their
own notes. Every generator is seeded, so a failure names its seed.
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
    return Typist(mean_ms=float(rng.uniform(110, 320)), sigma=float(rng.uniform(0.35, 0.6)))


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
        took = s.write(f"w{q}", chars, typist, pointer, minimum_ms=90_000)
        s.answer(f"w{q}", f"scripted {seed} {q}", 90_000 + int(s.rng.integers(0, 500)))
        del took
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


# --- whole candidates: graded questions --------------------------------------------------------

LEVELS = {"easy": -1.5, "medium": 0.0, "hard": 1.5}
PER_LEVEL = 10
OPTIONS = ("a", "b", "c", "d", "e", "f", "g", "h")


@dataclass(frozen=True)
class Item:
    id: str
    difficulty: str
    correct: str
    # Wrong answers and how popular each is among those who get it wrong.
    wrong: tuple[str, ...]
    wrong_weights: tuple[float, ...]


def assessment(seed: int = 0) -> list[Item]:
    """30 graded questions: half multiple choice (a common misconception among 3 distractors),
    half short numeric answers (wrong ones spread thin)."""
    rng = np.random.default_rng(10_000 + seed)
    items = []
    for level in LEVELS:
        for n in range(PER_LEVEL):
            qid = f"{level}{n}"
            if n % 2:
                wrong = ("b", "c", "d")
                weights = tuple(float(w) for w in rng.dirichlet([3.0, 1.0, 1.0]))
                items.append(Item(qid, level, "a", wrong, weights))
            else:
                wrong = tuple(str(v) for v in range(100, 140))
                weights = tuple(float(w) for w in rng.dirichlet([0.5] * len(wrong)))
                items.append(Item(qid, level, "42", wrong, weights))
    return items


def _p_right(ability: float, item: Item) -> float:
    return 1 / (1 + math.exp(-1.7 * (ability - LEVELS[item.difficulty])))


def honest_answers(seed: int, items: list[Item], *, start_ms: int = START_MS) -> Session:
    s = Session(seed)
    s.clock_ms = start_ms + int(s.rng.integers(0, 120_000))
    ability = float(s.rng.normal(0, 1))
    pace = float(s.rng.uniform(0.6, 1.6))
    median = {"easy": 25_000, "medium": 45_000, "hard": 70_000}
    for item in items:
        guess = ability - LEVELS[item.difficulty] < -1 and s.rng.random() < 0.3
        if guess:
            right = s.rng.random() < 0.25
            took = int(s.rng.uniform(2_000, 8_000))
        else:
            right = s.rng.random() < _p_right(ability, item)
            took = int(s.rng.lognormal(math.log(median[item.difficulty] * pace), 0.5))
        response = item.correct if right else _wrong(s.rng, item)
        s.answer(item.id, response, took, correct=right, difficulty=item.difficulty)
    return s


def _wrong(rng: np.random.Generator, item: Item) -> str:
    return str(rng.choice(item.wrong, p=item.wrong_weights))


def fed_answers(seed: int, items: list[Item]) -> Session:
    """A weak candidate handed the answers to the hard questions, entered at once."""
    s = Session(seed)
    ability = float(s.rng.uniform(-2.0, -0.8))
    for item in items:
        if item.difficulty == "hard":
            s.answer(
                item.id,
                item.correct,
                int(s.rng.uniform(1_500, 4_500)),
                correct=True,
                difficulty="hard",
            )
            continue
        right = s.rng.random() < _p_right(ability, item)
        took = int(s.rng.lognormal(math.log(40_000), 0.5))
        s.answer(
            item.id,
            item.correct if right else _wrong(s.rng, item),
            took,
            correct=right,
            difficulty=item.difficulty,
        )
    return s


def copier(source: Session, seed: int, items: list[Item], *, share: float = 0.8) -> Session:
    """Takes `share` of the source's answers, wrong ones included, entering each 5-25 s after
    the source did; answers the rest alone."""
    s = Session(seed)
    ability = float(s.rng.normal(-0.5, 0.7))
    by_question = {a.questionId: a for a in source.answers}
    for item in items:
        theirs = by_question[item.id]
        if s.rng.random() < share:
            at = theirs.submittedAtMs + int(s.rng.uniform(5_000, 25_000))
            s.offset += 1
            s.answers.append(
                AnswerSeen(
                    offset=s.offset,
                    questionId=item.id,
                    timeSpentMs=at - s.clock_ms,
                    submittedAtMs=at,
                    key=theirs.key,
                    correct=theirs.correct,
                    difficulty=item.difficulty,
                )
            )
            s.clock_ms = at
            continue
        right = s.rng.random() < _p_right(ability, item)
        took = int(s.rng.lognormal(math.log(40_000), 0.5))
        s.answer(
            item.id,
            item.correct if right else _wrong(s.rng, item),
            took,
            correct=right,
            difficulty=item.difficulty,
        )
    return s
