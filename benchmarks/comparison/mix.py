"""The event mix every system gets: the proportions of the Vigil load generator (EVENT_MIX), as
one shuffled cycle the generator walks through, so the same n-th event has the same type in
every run."""

from __future__ import annotations

import random

from loadgen.protocol import EVENT_MIX, QUESTIONS


def event_cycle(seed: int, size: int = 1000) -> list[tuple[str, str | None]]:
    """(event type, question id or None) pairs in the proportions of EVENT_MIX."""
    rng = random.Random(seed)
    total = sum(weight for _, weight in EVENT_MIX)
    cycle: list[tuple[str, str | None]] = []
    for kind, weight in EVENT_MIX:
        for _ in range(max(1, round(size * weight / total))):
            question = f"q{rng.randint(1, QUESTIONS)}" if kind == "question_viewed" else None
            cycle.append((kind, question))
    rng.shuffle(cycle)
    return cycle


def describe_mix() -> str:
    return ", ".join(f"{kind} {weight:g}%" for kind, weight in EVENT_MIX)
