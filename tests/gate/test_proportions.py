import pytest

from slokit.errors import ConfigError
from slokit.gate import compare_rates


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), table II, example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339.
    rates = compare_rates(
        baseline_failed=48,
        baseline_total=80,
        candidate_failed=56,
        candidate_total=70,
        tail_probability=0.025,
    )
    assert rates.difference == pytest.approx(0.2)
    assert rates.low == pytest.approx(0.0524, abs=1e-4)
    assert rates.high == pytest.approx(0.3339, abs=1e-4)


def test_fisher_test_sides() -> None:
    worse = compare_rates(
        baseline_failed=2,
        baseline_total=1_000,
        candidate_failed=30,
        candidate_total=1_000,
        tail_probability=0.001,
    )
    assert worse.p_increase < 1e-5
    assert worse.p_decrease > 0.5
    assert 0.0 < worse.low < worse.difference < worse.high
    same = compare_rates(
        baseline_failed=5,
        baseline_total=1_000,
        candidate_failed=5,
        candidate_total=1_000,
        tail_probability=0.001,
    )
    assert min(same.p_increase, same.p_decrease) > 0.5
    assert same.low < 0.0 < same.high


def test_no_failures_anywhere_is_no_evidence() -> None:
    none = compare_rates(
        baseline_failed=0,
        baseline_total=10,
        candidate_failed=0,
        candidate_total=10,
        tail_probability=0.01,
    )
    assert (none.p_increase, none.p_decrease, none.difference) == (1.0, 1.0, 0.0)
    assert none.low < 0.0 < none.high


@pytest.mark.parametrize(
    ("failed", "total", "tail"), [(3, 2, 0.01), (0, 0, 0.01), (-1, 5, 0.01), (1, 5, 0.5)]
)
def test_bad_counts_are_refused(failed: int, total: int, tail: float) -> None:
    with pytest.raises(ConfigError):
        compare_rates(
            baseline_failed=failed,
            baseline_total=total,
            candidate_failed=0,
            candidate_total=5,
            tail_probability=tail,
        )
