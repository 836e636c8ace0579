"""Closed forms of a stable run, against step-by-step sums."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from slokit.sim.stable import (
    first_ending_at_or_after,
    iteration_end_s,
    iterations_done_by,
    kv_fit_steps,
    kv_growth_blocks,
)

_times = st.floats(0.0, 10.0, allow_nan=False)
_first = st.floats(1e-4, 1.0, allow_nan=False)
_half_slope = st.one_of(st.just(0.0), st.floats(1e-9, 1e-2, allow_nan=False))


def _ends(start_s: float, first_s: float, half_slope_s: float, count: int) -> list[float]:
    return [iteration_end_s(start_s, first_s, half_slope_s, j) for j in range(count + 1)]


@given(start_s=_times, first_s=_first, half_slope_s=_half_slope, count=st.integers(1, 300))
def test_iteration_end_is_the_sum_of_growing_steps(
    start_s: float, first_s: float, half_slope_s: float, count: int
) -> None:
    total = start_s + sum(first_s + 2 * half_slope_s * t for t in range(count))
    assert math.isclose(iteration_end_s(start_s, first_s, half_slope_s, count), total, rel_tol=1e-9)


@given(
    start_s=_times,
    first_s=_first,
    half_slope_s=_half_slope,
    count=st.integers(1, 300),
    until_s=st.floats(0.0, 100.0, allow_nan=False),
)
def test_iterations_done_by_and_in_progress_agree_with_the_end_times(
    start_s: float, first_s: float, half_slope_s: float, count: int, until_s: float
) -> None:
    ends = _ends(start_s, first_s, half_slope_s, count)
    done = iterations_done_by(start_s, first_s, half_slope_s, count, until_s)
    assert done == max([j for j in range(count + 1) if ends[j] <= until_s], default=0)
    in_progress = first_ending_at_or_after(start_s, first_s, half_slope_s, count, until_s)
    later = [j for j in range(1, count + 1) if ends[j] >= until_s]
    assert in_progress == (later[0] if later else count)


@given(
    bases=st.lists(st.integers(1, 200), min_size=1, max_size=30),
    block=st.integers(1, 32),
    iteration=st.integers(0, 100),
    steps=st.integers(0, 200),
    free_blocks=st.integers(0, 300),
)
def test_kv_growth_and_fit_match_per_sequence_block_counts(
    bases: list[int], block: int, iteration: int, steps: int, free_blocks: int
) -> None:
    # Sequence i holds bases[i] tokens at ``iteration``; each step adds one token to each.
    crossings = [0] * block
    for base in bases:
        crossings[-(base - iteration) % block] += 1

    def held(step: int) -> int:
        return sum(-(-(base + step) // block) for base in bases)

    assert kv_growth_blocks(crossings, len(bases), iteration, steps) == held(steps) - held(0)
    fit = kv_fit_steps(crossings, len(bases), iteration, free_blocks)
    assert held(fit) - held(0) <= free_blocks < held(fit + 1) - held(0)


def test_kv_fit_with_no_sequences_is_unbounded() -> None:
    assert kv_fit_steps([0] * 16, 0, 5, 0) > 10**15
    assert kv_fit_steps([1] * 16, 16, 5, -1) == 0
