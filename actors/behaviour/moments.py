"""Exact moments of whole-millisecond samples: integer sums add up, so folding windows one at a
time and recomputing from all of them give the same number to the last bit."""

from __future__ import annotations

import math


def coefficient_of_variation(count: int, total: int, total_sq: int) -> float | None:
    """Population standard deviation over the mean, or None when it means nothing."""
    if count < 2 or total <= 0:
        return None
    spread = count * total_sq - total * total  # n^2 x variance, exact
    return math.sqrt(max(spread, 0)) / total


def poisson_tail(observed: int, expected: float) -> float:
    """P(X >= observed) for X ~ Poisson(expected)."""
    if observed <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    below = math.fsum(
        math.exp(k * math.log(expected) - expected - math.lgamma(k + 1)) for k in range(observed)
    )
    return min(max(1.0 - below, 0.0), 1.0)


def binomial_tail(trials: int, successes: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p)."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    return min(
        math.fsum(
            math.comb(trials, k) * p**k * (1 - p) ** (trials - k)
            for k in range(successes, trials + 1)
        ),
        1.0,
    )
