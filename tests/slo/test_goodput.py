"""Goodput: good requests and their output tokens per second."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.slo import goodput, judge_request, parse_slo


def test_counts_only_good_requests_and_their_tokens() -> None:
    result = goodput([True, False, True, True], [10, 20, 30, 0], duration_s=2.0)

    assert result.good_requests == 3
    assert result.good_output_tokens == 40
    assert result.requests_per_s == 1.5
    assert result.output_tokens_per_s == 20.0
    assert result.duration_s == 2.0


def test_accepts_numpy_arrays() -> None:
    result = goodput(np.array([True, True]), np.array([5, 7], dtype=np.uint32), duration_s=4.0)
    assert (result.requests_per_s, result.output_tokens_per_s) == (0.5, 3.0)


def test_failed_and_slow_requests_do_not_count() -> None:
    spec = parse_slo("e2e<=1s")
    requests = [  # (ok, e2e seconds, output tokens)
        (True, 0.5, 100),
        (False, 0.2, 100),  # failed fast: not good
        (True, 3.0, 100),  # succeeded too slowly
        (False, math.nan, 0),  # timed out: no e2e
    ]
    flags = [judge_request(spec, {"e2e": e2e}, ok=ok).good for ok, e2e, _ in requests]

    result = goodput(flags, [tokens for *_, tokens in requests], duration_s=10.0)

    assert result.good_requests == 1
    assert result.requests_per_s == pytest.approx(0.1)
    assert result.output_tokens_per_s == pytest.approx(10.0)


def test_a_run_without_requests_has_zero_goodput() -> None:
    result = goodput([], [], duration_s=1.0)
    assert (result.requests_per_s, result.output_tokens_per_s) == (0.0, 0.0)


@pytest.mark.parametrize("duration_s", [0.0, -1.0, math.inf, math.nan])
def test_duration_must_be_positive_and_finite(duration_s: float) -> None:
    with pytest.raises(ConfigError, match="duration_s"):
        goodput([True], [1], duration_s=duration_s)


@pytest.mark.parametrize(
    ("good", "tokens", "fragment"),
    [
        ([True, False], [1], "one entry per request"),
        ([1, 0], [1, 1], "booleans"),
        ([True], [1.5], "integers"),
        ([True], [-1], ">= 0"),
        ([[True]], [[1]], "one-dimensional"),
    ],
)
def test_rejects_malformed_inputs(good: object, tokens: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        goodput(good, tokens, duration_s=1.0)  # type: ignore[arg-type]


_RUNS = st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=10_000)))


@given(_RUNS, st.floats(min_value=1e-3, max_value=1e6))
def test_goodput_is_the_good_share_of_throughput(
    run: list[tuple[bool, int]], duration_s: float
) -> None:
    flags = [good for good, _ in run]
    tokens = [n for _, n in run]

    result = goodput(flags, tokens, duration_s=duration_s)
    everything = goodput([True] * len(run), tokens, duration_s=duration_s)
    nothing = goodput([not f for f in flags], tokens, duration_s=duration_s)

    assert result.good_requests + nothing.good_requests == len(run)
    assert result.good_output_tokens + nothing.good_output_tokens == sum(tokens)
    assert result.requests_per_s <= everything.requests_per_s
    assert result.output_tokens_per_s <= everything.output_tokens_per_s
    assert result.requests_per_s == pytest.approx(result.good_requests / duration_s)
