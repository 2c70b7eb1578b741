"""Bot-like behaviour (document 001: -30): input a person did not make.

A session is bot-like when any of these holds:
- untrusted: at least `untrusted_min` input events (keyboard, pointer, input) arrived with
  `isTrusted === false` over the session. Not 1: password managers, grammar and accessibility
  extensions dispatch a few synthetic events for honest candidates too;
- regular: at least `regular_windows_min` windows each with at least `regular_min_intervals`
  keystroke intervals under the pause threshold whose coefficient of variation (standard
  deviation / mean) is at most `regular_max_cv`. People type with a CV of roughly 0.3 to 0.8;
  a script with a fixed or lightly jittered delay sits near 0;
- straight: at least `straight_windows_min` windows where the pointer travelled at least
  `straight_min_px` and its strokes were straighter than `straight_min` (displacement / path):
  synthetic pointer paths are ruler-straight, a hand's are not.

Evidence: the windows (event offsets) behind each criterion that held.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from actors.behaviour.findings import MAX_EVIDENCE, Factor, FactorConfig, Finding, Penalty, found
from actors.behaviour.moments import coefficient_of_variation
from actors.behaviour.observations import WindowSeen

FACTOR = Factor(name="Bot-like behavior", check="BOT_LIKE")
Positive = Annotated[int, msgspec.Meta(ge=1)]
# Only windows this regular or this straight are kept, so an honest session's state stays near
# empty; thresholds are settable up to them (a person's windows sit above 0.3 CV, below 0.99).
CV_CEILING: Final = 0.3
STRAIGHT_FLOOR: Final = 0.99


class BotLikeConfig(FactorConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # On: benchmarks/behaviour.py measured under 1% of honest candidates losing points to it.
    enabled: bool = True
    penalty: Penalty = 30
    untrusted_min: Positive = 20
    regular_min_intervals: Annotated[int, msgspec.Meta(ge=2)] = 20
    regular_max_cv: Annotated[float, msgspec.Meta(ge=0, le=CV_CEILING)] = 0.15
    regular_windows_min: Positive = 3
    straight_min_px: Annotated[float, msgspec.Meta(gt=0)] = 400.0
    straight_min: Annotated[float, msgspec.Meta(ge=STRAIGHT_FLOOR, le=1)] = 0.999
    straight_windows_min: Positive = 3


class TimedWindow(msgspec.Struct, frozen=True, array_like=True):
    offset: int
    intervals: int
    cv: float


class PointerWindow(msgspec.Struct, frozen=True, array_like=True):
    offset: int
    distancePx: float
    straightness: float


class BotLikeState(msgspec.Struct, frozen=True, kw_only=True):
    untrusted: int = 0
    untrusted_offsets: tuple[int, ...] = ()  # the first MAX_EVIDENCE windows with any
    timed: tuple[TimedWindow, ...] = ()  # windows typed with a CV of at most CV_CEILING
    pointer: tuple[PointerWindow, ...] = ()  # windows moved at least STRAIGHT_FLOOR straight


def fold(state: BotLikeState, seen: WindowSeen) -> BotLikeState:
    window = seen.window
    untrusted = window.untrusted.total
    keys = window.keys
    cv = coefficient_of_variation(keys.burst_count, keys.burstSumMs, keys.burstSumSqMs)
    regular = cv is not None and cv <= CV_CEILING
    moved = window.pointer.distancePx
    straightness = min(window.pointer.displacementPx / moved, 1.0) if moved else 0.0
    straight = straightness >= STRAIGHT_FLOOR
    if not untrusted and not regular and not straight:
        return state
    offsets = state.untrusted_offsets
    if untrusted and len(offsets) < MAX_EVIDENCE:
        offsets = (*offsets, seen.offset)
    timed = state.timed
    if regular and cv is not None:
        timed = (*timed, TimedWindow(seen.offset, keys.burst_count, cv))
    pointer = state.pointer
    if straight:
        pointer = (*pointer, PointerWindow(seen.offset, moved, straightness))
    return BotLikeState(
        untrusted=state.untrusted + untrusted,
        untrusted_offsets=offsets,
        timed=timed,
        pointer=pointer,
    )


def finding(state: BotLikeState, config: BotLikeConfig) -> Finding | None:
    rules: list[str] = []
    offsets: list[int] = []
    if state.untrusted >= config.untrusted_min:
        rules.append(
            f"{state.untrusted} untrusted input events >= untrusted_min={config.untrusted_min}"
        )
        offsets += state.untrusted_offsets
    regular = [
        w.offset
        for w in state.timed
        if w.intervals >= config.regular_min_intervals and w.cv <= config.regular_max_cv
    ]
    if len(regular) >= config.regular_windows_min:
        rules.append(
            f"{len(regular)} windows typed with interval CV <= regular_max_cv="
            f"{config.regular_max_cv} >= regular_windows_min={config.regular_windows_min}"
        )
        offsets += regular
    straight = [
        w.offset
        for w in state.pointer
        if w.distancePx >= config.straight_min_px and w.straightness >= config.straight_min
    ]
    if len(straight) >= config.straight_windows_min:
        rules.append(
            f"{len(straight)} windows of pointer strokes straighter than straight_min="
            f"{config.straight_min} >= straight_windows_min={config.straight_windows_min}"
        )
        offsets += straight
    if not rules:
        return None
    return found(
        config,
        FACTOR,
        "; ".join(rules),
        offsets,
        measures={
            "untrustedEvents": float(state.untrusted),
            "regularWindows": float(len(regular)),
            "straightWindows": float(len(straight)),
        },
    )
