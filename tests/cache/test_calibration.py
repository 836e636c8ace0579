"""The calibration guarantee: exact binomial bounds, fixed-sequence thresholds, the bound kept."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.cache import Calibration, LabelledLookup, calibrate, clopper_pearson_upper
from slokit.cache import select_threshold as select
from slokit.errors import DataError


@given(
    trials=st.integers(1, 5_000),
    share=st.floats(0.0, 1.0),
    confidence=st.floats(0.5, 0.999),
)
def test_upper_bound_is_above_the_observed_rate_and_rises_with_confidence(
    trials: int, share: float, confidence: float
) -> None:
    failures = round(share * trials)
    upper = clopper_pearson_upper(failures, trials, confidence)
    assert failures / trials <= upper <= 1.0
    assert clopper_pearson_upper(failures, trials, min(0.9999, confidence + 0.0005)) >= upper
    if failures < trials:
        assert clopper_pearson_upper(failures + 1, trials, confidence) >= upper


def test_upper_bound_matches_the_closed_form_at_zero_failures() -> None:
    # With no failure, BetaInv(c; 1, n) = 1 - (1 - c)^(1/n).
    assert clopper_pearson_upper(0, 300, 0.95) == pytest.approx(1 - 0.05 ** (1 / 300))


scored_lookups = st.lists(
    st.tuples(st.floats(-10, 10, allow_nan=False), st.booleans()), min_size=1, max_size=400
)


@given(data=scored_lookups, bound=st.floats(0.001, 0.3))
def test_kept_threshold_passes_its_test_and_looser_bounds_keep_lower_thresholds(
    data: list[tuple[float, bool]], bound: float
) -> None:
    scores = [s for s, _ in data]
    wrong = [w for _, w in data]
    grid = sorted({round(s, 3) for s in scores}, reverse=True)
    choice = select(scores, wrong, grid, max_false_hit_rate=bound, confidence=0.9)
    if math.isfinite(choice.threshold):
        served = [w for s, w in data if s >= choice.threshold]
        assert choice.false_hits == sum(served)
        assert clopper_pearson_upper(sum(served), len(data), 0.9) <= bound
    looser = select(scores, wrong, grid, max_false_hit_rate=min(0.99, 2 * bound), confidence=0.9)
    assert looser.threshold <= choice.threshold
    assert looser.hits >= choice.hits


@given(n=st.integers(1, 300))
def test_nothing_is_served_when_every_candidate_is_wrong(n: int) -> None:
    choice = select([1.0] * n, [True] * n, [1.0, 0.0], max_false_hit_rate=0.05, confidence=0.95)
    assert choice.threshold == math.inf
    assert choice.hits == 0


def synthetic_lookups(count: int, seed: int) -> list[LabelledLookup]:
    """Duplicates sit at cosine ~0.9, non-duplicates at ~0.8: heavily overlapping."""
    rng = np.random.default_rng(seed)
    lookups = []
    for i in range(count):
        duplicate = rng.random() < 0.4
        similarity = float(np.clip(rng.normal(0.9 if duplicate else 0.8, 0.05), -1, 0.999))
        lookups.append(
            LabelledLookup(
                query=f"question number {i}",
                candidates=((f"cached question {i}", similarity),),
                correct=(duplicate,),
                group=f"g{i}",
            )
        )
    return lookups


def test_calibrated_cache_keeps_the_bound_on_fresh_data() -> None:
    # The guarantee is probabilistic: over the draw of the calibration data, the bound holds
    # with probability >= 0.95. So: 20 seeded calibration draws, each judged on 10,000 fresh
    # lookups (about +-0.15 points of sampling noise, one standard error). With a failure
    # chance of at most 5% per draw, 4 or more failures of 20 would happen under 2% of the time.
    allowance = 3 * math.sqrt(0.02 * 0.98 / 10_000)
    failures = 0
    for seed in range(20):
        calibration = calibrate(
            synthetic_lookups(4_000, seed), max_false_hit_rate=0.02, confidence=0.95, candidates=1
        )
        assert calibration.report["false_hit_rate_upper_bound"] <= 0.02
        fresh = synthetic_lookups(10_000, seed + 1_000)
        false_hits = 0
        for lookup in fresh:
            choice = calibration.choose(lookup.query, lookup.candidates)
            false_hits += choice is not None and not lookup.correct[choice.position]
        failures += false_hits / len(fresh) > 0.02 + allowance
    assert failures <= 3


def test_calibration_round_trips_through_json() -> None:
    calibration = calibrate(synthetic_lookups(2_000, 7), max_false_hit_rate=0.05, candidates=1)
    again = Calibration.from_json(calibration.to_json())
    lookup = synthetic_lookups(1, 8)[0]
    assert again.choose(lookup.query, lookup.candidates) == calibration.choose(
        lookup.query, lookup.candidates
    )
    assert again == calibration


def test_a_file_that_is_not_a_calibration_is_a_data_error() -> None:
    with pytest.raises(DataError, match="not a slokit cache calibration"):
        Calibration.from_json({"version": 1, "threshold": 0.5})
