"""Circuit breaker and retry budget on a manual clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.backends.resilience import (
    BreakerConfig,
    CircuitBreaker,
    RetryBudget,
    RetryBudgetConfig,
)
from slokit.clock import ManualClock
from slokit.errors import ConfigError


def test_breaker_opens_after_consecutive_failures_and_probes_once() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(BreakerConfig(failures=3, cooldown_s=10.0), clock)
    breaker.failure()
    breaker.failure()
    breaker.success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.is_open
    assert not breaker.allow()
    clock.advance(10.0)
    assert breaker.allow()  # the one probe
    assert not breaker.allow()
    breaker.failure()  # the probe failed: open again for a full cooldown
    clock.advance(9.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()
    breaker.success()
    assert not breaker.is_open
    assert breaker.allow()
    assert breaker.allow()


@given(
    outcomes=st.lists(st.booleans(), max_size=300),
    ratio=st.floats(min_value=0.0, max_value=1.0),
    initial=st.floats(min_value=0.0, max_value=10.0),
)
def test_retries_never_exceed_ratio_times_requests_plus_initial(
    outcomes: list[bool], ratio: float, initial: float
) -> None:
    budget = RetryBudget(RetryBudgetConfig(ratio=ratio, initial=initial, cap=10.0))
    for wants_retry in outcomes:
        budget.on_request()
        if wants_retry:
            budget.try_retry()
    assert budget.retries <= ratio * budget.requests + initial + 1e-9


def test_configs_reject_nonsense() -> None:
    with pytest.raises(ConfigError, match="failures must be >= 1"):
        BreakerConfig(failures=0)
    with pytest.raises(ConfigError, match="ratio must be in"):
        RetryBudgetConfig(ratio=1.5)
