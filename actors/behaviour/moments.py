"""Exact moments of whole-millisecond samples: integer sums add up, so folding windows one at a
time and recomputing from all of them give the same number to the last bit."""

from __future__ import annotations

import math
from typing import Final

POISSON_BINOMIAL_MAX: Final = 400


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

    def term(k: int) -> float:
        return math.exp(k * math.log(expected) - expected - math.lgamma(k + 1))

    if observed <= expected:
        return min(max(1.0 - math.fsum(term(k) for k in range(observed)), 0.0), 1.0)
    # In the upper tail summed directly, so a tiny probability keeps its digits (1 - (1 - p)
    # would round it to 0); past the mode the terms shrink geometrically.
    total, k = 0.0, observed
    while True:
        t = term(k)
        total += t
        if t <= total * 1e-17:
            return min(total, 1.0)
        k += 1


def bernoulli_sum_tail(chances: list[float], observed: int) -> float:
    """P(X >= observed) for X the number of successes of independent trials with these chances
    (the Poisson-binomial distribution), exact; past POISSON_BINOMIAL_MAX trials the Poisson
    tail with the same mean, which over-disperses and so only errs towards a larger chance."""
    if observed <= 0:
        return 1.0
    if observed > len(chances):
        return 0.0
    if len(chances) > POISSON_BINOMIAL_MAX:
        return poisson_tail(observed, math.fsum(chances))
    # dist[k] = P(k successes so far); O(trials^2), trivial for the questions of one assessment.
    dist = [1.0]
    for p in chances:
        grown = [0.0] * (len(dist) + 1)
        for k, mass in enumerate(dist):
            grown[k] += mass * (1 - p)
            grown[k + 1] += mass * p
        dist = grown
    return min(math.fsum(dist[observed:]), 1.0)
