"""Per-principal rate limits of the REST API (CONTRACT.md section 3, "rate limit 429"): a token
bucket per candidate session and one for the admin token."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from app.access.refused import Refused
from app.access.tokens import Access
from app.settings import LimitsSettings
from app.telemetry.metrics import Metrics

ADMIN_KEY = "admin"


class RateLimiter:
    """Token buckets keyed by a string: each holds up to `burst` tokens and refills at
    `rate_per_second`; a request takes one. A rate of 0 means unlimited."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if not (math.isfinite(rate_per_second) and rate_per_second >= 0):
            raise ValueError(f"expected a finite rate >= 0 per second, got {rate_per_second!r}")
        if burst < 1 or max_keys < 1:
            raise ValueError(f"expected burst >= 1 and max_keys >= 1, got {burst} and {max_keys}")
        self.rate = rate_per_second
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        # key -> (tokens, clock reading when they were counted), least recently used first.
        # Bounded at max_keys: a new key evicts the least recently used bucket. An evicted key
        # comes back with a full bucket, so overflow only ever makes a limit more lenient.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def forget(self, key: str) -> None:
        """Drop `key`'s bucket: it comes back full."""
        self._buckets.pop(key, None)

    @property
    def refill_seconds(self) -> float:
        """How long an empty bucket takes to fill up again (0 with no limit)."""
        return self.burst / self.rate if self.rate else 0.0

    def take(self, key: str) -> float:
        """0.0 if `key` may go ahead (one token taken), else the seconds until a token is
        available; a refusal takes nothing."""
        if self.rate == 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets.popitem(last=False)
            tokens = float(self.burst)
        else:
            self._buckets.move_to_end(key)
            stored, then = bucket
            tokens = min(float(self.burst), stored + max(0.0, now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate


class RequestLimits:
    """The limits `AccessGate.require` (app/access/gate.py) applies once it knows who is asking."""

    def __init__(
        self,
        settings: LimitsSettings,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        # One bucket per session: a session has one candidate token.
        self.candidate = RateLimiter(
            settings.candidate_requests_per_second, settings.candidate_burst, clock
        )
        self.admin = RateLimiter(
            settings.admin_requests_per_second, settings.admin_burst, clock, max_keys=1
        )
        # Requests no token vouches for (opening a demo session), per client address.
        self.anonymous = RateLimiter(
            settings.anonymous_requests_per_minute / 60.0, settings.anonymous_burst, clock
        )

    def check_anonymous(self, address: str) -> None:
        wait = self.anonymous.take(address)
        if wait > 0:
            self._refuse(
                wait,
                f"too many requests from {address} without a token: expected at most "
                f"{self.settings.anonymous_requests_per_minute:g} per minute "
                f"(bursts of {self.settings.anonymous_burst})",
            )

    def check(self, access: Access, session_id: str | None) -> None:
        """Raise 429 if this admin or candidate request is over its limit; count it."""
        if access is Access.ADMIN:
            wait = self.admin.take(ADMIN_KEY)
            who, rate, burst = (
                "the admin token",
                self.settings.admin_requests_per_second,
                self.settings.admin_burst,
            )
        elif access is Access.CANDIDATE and session_id is not None:
            wait = self.candidate.take(session_id)
            who, rate, burst = (
                "this session's candidate token",
                self.settings.candidate_requests_per_second,
                self.settings.candidate_burst,
            )
        else:
            return
        if wait > 0:
            self._refuse(
                wait,
                f"too many requests with {who}: expected at most {rate:g} per second "
                f"(bursts of {burst})",
            )

    def _refuse(self, wait: float, what: str) -> None:
        self.metrics.http_rate_limited += 1
        retry_after = max(1, math.ceil(wait))
        raise Refused(
            429,
            "rate_limited",
            f"{what}; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
