"""What the candidate SDK reports about how an answer was produced, never what was typed.

One `behaviour_window` event per question and per window of at most 10 s: how many keys went
down and the spread of the intervals between them (a histogram with the fixed edges below, plus
the sums that give its exact mean and variance), how many characters reached the answer by
typing, by pasting or otherwise, the pointer's path, and how many input events the browser
marked `isTrusted === false` (made by a script, not a person). Which keys, the characters
themselves and where the pointer went are never collected.

Every bound is one no honest browser can cross; a payload over one, or whose parts contradict
each other (a histogram that does not add up, sums outside what its buckets allow), is refused
at decode with the field and the expected-versus-got in the message.

Wiring into the candidate socket is one class in `actors/events.py` and one member of its union:

    class BehaviourWindow(CandidateEvent, tag="behaviour_window", frozen=True, kw_only=True):
        questionId: QuestionId
        data: BehaviourWindowData  # type: ignore[assignment]
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

BEHAVIOUR_WINDOW: Final = "behaviour_window"
WINDOW_MS: Final = 10_000

# Bucket i counts the intervals between consecutive keydowns in [EDGES[i], EDGES[i + 1]) ms; the
# last bucket, from PAUSE_MS up, holds thinking pauses. Fine steps below 300 ms because that is
# where a person's typing lives and where a script's fixed delay would pile into one bucket.
INTERVAL_EDGES_MS: Final = (0, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 750, 1000, 2000)
PAUSE_MS: Final = INTERVAL_EDGES_MS[-1]
BUCKETS: Final = len(INTERVAL_EDGES_MS)

# 100 keydowns a second is past any key repeat rate; a window cannot hold more.
MAX_KEYS_PER_SECOND: Final = 100
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Chars = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
Pixels = Annotated[float, msgspec.Meta(ge=0, le=10_000_000)]
Histogram = Annotated[tuple[Count, ...], msgspec.Meta(min_length=BUCKETS, max_length=BUCKETS)]
WindowMs = Annotated[int, msgspec.Meta(ge=1, le=WINDOW_MS)]

_NO_INTERVALS: Final = (0,) * BUCKETS
# Float sums arrive rounded by the browser; a path may come out a hair shorter than its chord.
_SLACK: Final = 1e-6


def _refuse(field: str, expected: str, got: object) -> ValueError:
    return ValueError(f"`{field}`: expected {expected}, got {got}")


class KeystrokeTiming(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Keydowns in the window and the intervals (ms) that ended at one of them.

    `burstSumMs` and `burstSumSqMs` are the sum and the sum of squares of the intervals under
    PAUSE_MS (whole milliseconds), so that a window's mean and variance are exact and windows
    add up."""

    keydowns: Count = 0
    intervals: Histogram = _NO_INTERVALS
    burstSumMs: Count = 0
    burstSumSqMs: Annotated[int, msgspec.Meta(ge=0, le=10**13)] = 0

    def __post_init__(self) -> None:
        total = sum(self.intervals)
        if total > self.keydowns:
            raise _refuse(
                "keys.intervals", f"at most keydowns={self.keydowns} intervals in all", total
            )
        burst = self.intervals[:-1]
        low = sum(n * INTERVAL_EDGES_MS[i] for i, n in enumerate(burst))
        high = sum(n * (INTERVAL_EDGES_MS[i + 1] - 1) for i, n in enumerate(burst))
        if not low <= self.burstSumMs <= high:
            raise _refuse(
                "keys.burstSumMs", f"between {low} and {high} for these buckets", self.burstSumMs
            )
        low_sq = sum(n * INTERVAL_EDGES_MS[i] ** 2 for i, n in enumerate(burst))
        high_sq = sum(n * (INTERVAL_EDGES_MS[i + 1] - 1) ** 2 for i, n in enumerate(burst))
        count = sum(burst)
        # A sum of squares is never below sum^2 / n (Cauchy-Schwarz).
        floor = -(-(self.burstSumMs**2) // count) if count else 0
        low_sq = max(low_sq, floor)
        if not low_sq <= self.burstSumSqMs <= high_sq:
            raise _refuse(
                "keys.burstSumSqMs",
                f"between {low_sq} and {high_sq} for these buckets and burstSumMs",
                self.burstSumSqMs,
            )

    @property
    def burst_count(self) -> int:
        return sum(self.intervals[:-1])


class TextInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Characters that reached this question's answer, by how they came (`InputEvent.inputType`):
    typed (`insertText`), pasted or dropped (`insertFromPaste`, `insertFromDrop`), and other
    (composition, autocorrect, dictation: a person, not a keyboard). `answerLength` is the
    answer's length in characters at the window's end."""

    charsTyped: Chars = 0
    charsPasted: Chars = 0
    charsOther: Chars = 0
    pastes: Count = 0
    answerLength: Chars = 0

    def __post_init__(self) -> None:
        # An empty paste is possible; pasted characters without a paste are not.
        if self.charsPasted and not self.pastes:
            raise _refuse(
                "text.pastes", f"at least 1 when charsPasted={self.charsPasted}", self.pastes
            )


class PointerMovement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The pointer's path in CSS pixels. A stroke is a run of movement between stills of at least
    300 ms; `displacementPx` sums each stroke's straight line from start to end, so
    displacement / distance is the path's straightness (1 for a ruler-straight path)."""

    moves: Count = 0
    distancePx: Pixels = 0.0
    displacementPx: Pixels = 0.0
    strokes: Count = 0
    pauses: Count = 0
    movingMs: Annotated[int, msgspec.Meta(ge=0, le=WINDOW_MS)] = 0
    maxSpeedPxPerS: Pixels = 0.0

    def __post_init__(self) -> None:
        if self.displacementPx > self.distancePx * (1 + _SLACK) + _SLACK:
            raise _refuse(
                "pointer.displacementPx",
                f"at most distancePx={self.distancePx} (a chord is never longer than its path)",
                self.displacementPx,
            )
        if self.strokes > self.moves:
            raise _refuse("pointer.strokes", f"at most moves={self.moves}", self.strokes)
        if self.distancePx > 0 and self.strokes == 0:
            raise _refuse("pointer.strokes", "at least 1 when distancePx > 0", 0)
        if (
            self.movingMs
            and self.distancePx / (self.movingMs / 1000)
            > self.maxSpeedPxPerS * (1 + _SLACK) + _SLACK
        ):
            raise _refuse(
                "pointer.maxSpeedPxPerS",
                "at least the mean speed distancePx / movingMs",
                self.maxSpeedPxPerS,
            )


class UntrustedInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Input events whose `isTrusted` was false: dispatched by a script, not made by a person."""

    keyboard: Count = 0
    pointer: Count = 0
    input: Count = 0

    @property
    def total(self) -> int:
        return self.keyboard + self.pointer + self.input


class BehaviourWindowData(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`data` of a `behaviour_window` event; a part with nothing in it may be left out."""

    windowMs: WindowMs
    keys: KeystrokeTiming = msgspec.field(default_factory=KeystrokeTiming)
    text: TextInput = msgspec.field(default_factory=TextInput)
    pointer: PointerMovement = msgspec.field(default_factory=PointerMovement)
    untrusted: UntrustedInput = msgspec.field(default_factory=UntrustedInput)

    def __post_init__(self) -> None:
        most = self.windowMs * MAX_KEYS_PER_SECOND // 1000 + 1
        if self.keys.keydowns > most:
            raise _refuse(
                "keys.keydowns",
                f"at most {most} in {self.windowMs} ms ({MAX_KEYS_PER_SECOND} a second)",
                self.keys.keydowns,
            )
        if self.pointer.movingMs > self.windowMs:
            raise _refuse(
                "pointer.movingMs", f"at most windowMs={self.windowMs}", self.pointer.movingMs
            )


BEHAVIOUR_WINDOW_DECODER: Final = msgspec.json.Decoder(BehaviourWindowData)
