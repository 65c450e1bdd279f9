from datetime import UTC, datetime

import pytest

from rate_limiter import RateLimiter
from retry_policy import RetryPolicy, retry_after_seconds


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "Wed, 25 Nov 2026 10:00:05 GMT"}, 5.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_headers(headers, expected):
    now = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(headers, now) == expected


def test_only_retryable_kinds_are_retried_with_growing_jittered_waits():
    policy = RetryPolicy(max_retries=3, base_delay=1.0, max_delay=3.0)
    for kind in ("auth", "permission", "not_found", "bad_request", "context_length", "quota", "stream_cut"):
        assert policy.delay(kind, 1, rand=1.0) is None
    assert [policy.delay("server", attempt, rand=1.0) for attempt in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, None]
    assert policy.delay("connection", 2, rand=0.5) == 1.0
    assert policy.delay("rate_limit", 1, retry_after=7.0, rand=0.1) == 7.0
    assert policy.delay("rate_limit", 1, retry_after=600.0) is None
    assert RetryPolicy(max_retries=0).delay("server", 1) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_queue_a_burst_in_order():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=2, clock=clock)
    assert [limiter.reserve(10) for _ in range(5)] == [0.0, 0.0, 60.0, 60.0, 120.0]
    clock.now += 61
    assert limiter.reserve(10) == 59.0  # goes with the fifth, at 1120: the two at 1060 have left the window


def test_tokens_per_minute_hold_back_a_large_request():
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_minute=1000, clock=clock)
    assert limiter.reserve(600) == 0.0
    clock.now += 10
    assert limiter.reserve(600) == 50.0  # waits until the first booking leaves the window
    assert limiter.reserve(5000) == 110.0  # capped at the whole budget, after the second one leaves


def test_a_disabled_limiter_never_waits():
    limiter = RateLimiter()
    assert not limiter.enabled
    assert [limiter.reserve(10**9) for _ in range(100)] == [0.0] * 100


def test_the_limiter_tells_what_went_out_this_minute():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=2, tokens_per_minute=1000, clock=clock)
    assert limiter.used() == (0, 0)
    limiter.reserve(300)
    clock.now += 10
    limiter.reserve(200)
    assert limiter.used() == (2, 500)
    assert limiter.reserve(100) == 50.0  # queued for later: not counted until it goes
    assert limiter.used() == (2, 500)
    clock.now += 51  # the first booking has left the window, the queued one went
    assert limiter.used() == (2, 300)
    clock.now += 60
    assert limiter.used() == (0, 0)
