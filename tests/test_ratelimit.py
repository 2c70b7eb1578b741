"""Rate limits: the token bucket on a fake clock, and 429 with Retry-After from a real server."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from app.access.ratelimit import RateLimiter, RequestLimits
from app.access.refused import Refused
from app.access.tokens import Access
from app.settings import LimitsSettings
from app.telemetry.metrics import Metrics
from tests.support import running_server

VIOLATION = {"type": "TAB_SWITCH", "severity": "LOW"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_is_allowed_then_refused_with_the_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, 3, clock)
    assert [limiter.take("s") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("s") == pytest.approx(0.5)
    # A refusal takes nothing: asking again at the same moment names the same wait.
    assert limiter.take("s") == pytest.approx(0.5)
    clock.now += 0.25
    assert limiter.take("s") == pytest.approx(0.25)


def test_tokens_refill_over_time_up_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, 3, clock)
    for _ in range(3):
        limiter.take("s")
    clock.now += 0.5
    assert limiter.take("s") == 0.0
    assert limiter.take("s") > 0
    clock.now += 3600
    assert [limiter.take("s") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("s") == pytest.approx(0.5)


def test_keys_have_their_own_buckets() -> None:
    limiter = RateLimiter(1.0, 1, FakeClock())
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0


def test_rate_zero_is_unlimited_and_keeps_nothing() -> None:
    limiter = RateLimiter(0.0, 1, FakeClock())
    assert all(limiter.take(f"k{i % 7}") == 0.0 for i in range(10_000))
    assert len(limiter) == 0


def test_memory_is_bounded_by_dropping_the_least_recently_used() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 1, clock, max_keys=2)
    limiter.take("a")
    limiter.take("b")
    assert limiter.take("a") > 0  # a is now the most recently used
    assert limiter.take("c") == 0.0  # evicts b
    assert len(limiter) == 2
    # The evicted key comes back with a full bucket (more lenient, never stricter) ...
    assert limiter.take("b") == 0.0  # evicts a
    # ... while the recently used one kept its state.
    assert limiter.take("c") > 0
    assert len(limiter) == 2


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys"),
    [(-1.0, 1, 1), (math.inf, 1, 1), (math.nan, 1, 1), (1.0, 0, 1), (1.0, 1, 0)],
)
def test_nonsense_limits_are_refused(rate: float, burst: int, max_keys: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        RateLimiter(rate, burst, FakeClock(), max_keys)


def test_request_limits_raise_429_with_retry_after_rounded_up() -> None:
    clock, metrics = FakeClock(), Metrics()
    limits = RequestLimits(
        LimitsSettings(candidate_requests_per_second=0.4, candidate_burst=1), metrics, clock
    )
    limits.check(Access.CANDIDATE, "s1")
    with pytest.raises(Refused) as refused:
        limits.check(Access.CANDIDATE, "s1")
    error = refused.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.headers == {"Retry-After": "3"}  # 2.5 s, rounded up
    assert "candidate token" in error.message and "retry after 3 s" in error.message
    clock.now += 2.45
    with pytest.raises(Refused) as soon:
        limits.check(Access.CANDIDATE, "s1")
    assert soon.value.headers == {"Retry-After": "1"}  # never 0
    assert metrics.http_rate_limited == 2
    limits.check(Access.CANDIDATE, "s2")


def test_request_limits_leave_admin_unlimited_by_default() -> None:
    metrics = Metrics()
    limits = RequestLimits(LimitsSettings(), metrics, FakeClock())
    for _ in range(5000):
        limits.check(Access.ADMIN, None)
        limits.check(Access.NONE, "s1")
        limits.check(Access.OTHER_SESSION, "s1")
    assert metrics.http_rate_limited == 0 and len(limits.admin) == 0 and len(limits.candidate) == 0


def test_request_limits_admin_bucket_when_configured() -> None:
    limits = RequestLimits(
        LimitsSettings(admin_requests_per_second=10.0, admin_burst=2), Metrics(), FakeClock()
    )
    limits.check(Access.ADMIN, "s1")
    limits.check(Access.ADMIN, "s2")  # one bucket for the admin token, whatever the session
    with pytest.raises(Refused, match="admin token") as refused:
        limits.check(Access.ADMIN, None)
    assert refused.value.headers == {"Retry-After": "1"}


@pytest.mark.anyio
async def test_candidate_over_the_limit_gets_429_and_changes_nothing(tmp_path: Path) -> None:
    limits = {"candidate_requests_per_second": 1, "candidate_burst": 3}
    async with running_server(tmp_path, limits=limits) as server:
        session_id, token = await server.create_session()
        other_id, other_token = await server.create_session()
        path = f"/candidate-sessions/{session_id}/violations"
        async with server.http(token) as client:
            statuses = [(await client.post(path, json=VIOLATION)).status_code for _ in range(3)]
            assert statuses == [201, 201, 201]
            refused = await client.post(path, json=VIOLATION)
            assert refused.status_code == 429, refused.text
            body = refused.json()
            assert body.keys() == {"error"} and body["error"].keys() == {"code", "message"}
            assert body["error"]["code"] == "rate_limited"
            assert int(refused.headers["Retry-After"]) >= 1
            # 401 and 403 are decided before the limit.
            assert (await client.get(f"/candidate-sessions/{other_id}")).status_code == 403
        async with server.http(token="wrong") as client:
            assert (await client.post(path, json=VIOLATION)).status_code == 401
        async with server.http(other_token) as client:
            other = await client.post(f"/candidate-sessions/{other_id}/violations", json=VIOLATION)
            assert other.status_code == 201
        async with server.http() as client:
            stored = (await client.get(f"/candidate-sessions/{session_id}")).json()
            metrics = (await client.get("/metrics")).text
        assert len(stored["violations"]) == 3
        assert "vigil_http_rate_limited_total 1" in metrics
