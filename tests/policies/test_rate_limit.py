"""Token buckets and per-tenant rate limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.clock import ManualClock
from slokit.policies import (
    RateLimiter,
    TenantLimits,
    TokenBucket,
)


def test_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate_per_s=10.0, burst=5.0, now_s=clock.now())
    assert bucket.take(5.0, clock.now())
    assert not bucket.take(1.0, clock.now())
    assert bucket.wait_s(1.0, clock.now()) == pytest.approx(0.1)
    clock.advance(0.25)
    assert bucket.level(clock.now()) == pytest.approx(2.5)
    clock.advance(10.0)
    assert bucket.level(clock.now()) == 5.0
    assert math.isinf(bucket.wait_s(6.0, clock.now()))


@settings(max_examples=60)
@given(
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=80),
    rate=st.floats(0.5, 20.0),
    burst=st.floats(1.0, 20.0),
)
def test_bucket_never_grants_more_than_burst_plus_rate_times_time(
    gaps: list[float], rate: float, burst: float
) -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate_per_s=rate, burst=burst)
    granted = 0
    for gap in gaps:
        clock.advance(gap)
        granted += bucket.take(1.0, clock.now())
    assert granted <= burst + rate * clock.now() + 1e-9


def test_tenant_limits_take_both_buckets_or_neither() -> None:
    clock = ManualClock()
    limiter = RateLimiter(
        {"small": TenantLimits(requests_per_s=2.0, tokens_per_s=100.0, token_burst=300.0)},
        default=TenantLimits(requests_per_s=100.0),
    )
    assert limiter.check("small", 250, clock.now()).allowed
    refused = limiter.check("small", 100, clock.now())
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.5)  # 50 tokens left, 50 more at 100/s
    clock.advance(0.5)
    assert limiter.check("small", 100, clock.now()).allowed
    # The request bucket was not drained by the refusal: 2 requests fit in its 2 s burst.
    clock.advance(10.0)
    assert limiter.check("small", 1, clock.now()).allowed
    assert limiter.check("small", 1, clock.now()).allowed
    assert not limiter.check("small", 1, clock.now()).allowed
    assert all(limiter.check("other", 10**6, clock.now()).allowed for _ in range(50))


def test_settle_charges_the_tokens_learned_later() -> None:
    limiter = RateLimiter(default=TenantLimits(tokens_per_s=10.0, token_burst=10.0))
    assert limiter.check("t", 10, 0.0).allowed
    limiter.settle("t", 5, 0.0)  # the reply was 5 tokens longer than asked
    # Level at 0.9 s: -5 + 9 = 4, one token short of 5 at 10/s.
    assert limiter.check("t", 5, 0.9).retry_after_s == pytest.approx(0.1)
    assert limiter.check("t", 5, 1.5).allowed
