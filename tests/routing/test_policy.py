"""Choosing among priced models, and calibrating the trade-off to a target."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from slokit.errors import ConfigError
from slokit.routing import CostBudget, StrongShare, calibrate, choose

PRICES = np.array([1.0, 4.0, 10.0])
probabilities = arrays(
    np.float64, st.tuples(st.integers(1, 40), st.just(3)), elements=st.floats(0, 1)
)


@given(probabilities, st.floats(0, 5), st.floats(0, 5))
def test_a_higher_tradeoff_never_picks_a_pricier_model(
    p: np.ndarray, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    assert np.all(PRICES[choose(p, PRICES, high)] <= PRICES[choose(p, PRICES, low)])


@given(probabilities, st.floats(0, 1))
def test_calibrated_share_is_met(p: np.ndarray, share: float) -> None:
    tradeoff = calibrate(p, PRICES, StrongShare(share=share))
    assert np.mean(choose(p, PRICES, tradeoff) == 2) <= share


@given(probabilities, st.floats(1, 12))
def test_calibrated_budget_is_met(p: np.ndarray, budget: float) -> None:
    tradeoff = calibrate(p, PRICES, CostBudget(mean_price=budget))
    assert np.mean(PRICES[choose(p, PRICES, tradeoff)]) <= budget


def test_zero_tradeoff_picks_the_most_likely_right_and_ties_go_cheap() -> None:
    p = np.array([[0.2, 0.9, 0.5], [0.7, 0.7, 0.7]])
    assert choose(p, PRICES, 0.0).tolist() == [1, 0]


def test_threshold_meaning_with_two_models() -> None:
    # Strong (price 2) over weak (price 1) when gain >= tradeoff * (2 - 1) / 2.
    p = np.array([[0.5, 0.61], [0.5, 0.59]])
    assert choose(p, np.array([1.0, 2.0]), 0.2).tolist() == [1, 0]


def test_impossible_budget_is_refused() -> None:
    with pytest.raises(ConfigError, match="cheapest"):
        calibrate(np.full((3, 3), 0.5), PRICES, CostBudget(mean_price=0.5))
