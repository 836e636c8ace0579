"""RouteLLM's APGR and CPT: exact values on small cases, invariants with Hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from slokit.errors import DataError
from slokit.routing import (
    apgr,
    cpt,
    oracle_scores,
    quality_curve,
    random_scores,
    routing_quality,
)

labels = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=60)


def columns(rows: list[tuple[bool, bool]]) -> tuple[np.ndarray, np.ndarray]:
    array = np.array(rows, dtype=bool)
    return array[:, 0], array[:, 1]


def with_gap(rows: list[tuple[bool, bool]]) -> tuple[np.ndarray, np.ndarray]:
    weak, strong = columns(rows)
    assume(strong.mean() > weak.mean())
    return weak, strong


def test_small_case_by_hand() -> None:
    # Queries 0 and 2 need the strong model; the router ranks them first.
    weak = [False, True, False, True]
    strong = [True, True, True, True]
    quality = routing_quality([0.9, 0.1, 0.8, 0.2], weak, strong)
    # Gap 0.5; the two weak-wrong queries come first: PGR 0.5 at 25%, 1 at 50%, then flat.
    assert quality.cpt50 == pytest.approx(0.25)
    assert quality.cpt80 == pytest.approx(0.4)
    assert quality.apgr == pytest.approx(0.5 * 0.25 * 0.5 + 0.25 * 0.75 + 0.5 * 1.0)


def test_equal_accuracies_have_no_gap_to_recover() -> None:
    with pytest.raises(DataError, match="no gap"):
        routing_quality([0.1, 0.2], [True, False], [False, True])


def test_mismatched_lengths_are_data_errors() -> None:
    with pytest.raises(DataError, match="one length"):
        routing_quality([0.1, 0.2, 0.3], [True, False], [False, True])


@given(labels)
def test_random_router_is_exactly_half(rows: list[tuple[bool, bool]]) -> None:
    weak, strong = with_gap(rows)
    quality = routing_quality(random_scores(len(weak)), weak, strong)
    assert quality.apgr == pytest.approx(0.5)
    assert quality.cpt50 == pytest.approx(0.5)
    assert quality.cpt80 == pytest.approx(0.8)


@given(labels, st.randoms(use_true_random=False))
def test_oracle_bounds_every_router(rows: list[tuple[bool, bool]], rng: object) -> None:
    weak, strong = with_gap(rows)
    scores = np.array([rng.random() for _ in rows])  # type: ignore[attr-defined]
    router = routing_quality(scores, weak, strong)
    oracle = routing_quality(oracle_scores(weak, strong), weak, strong)
    anti = routing_quality(-oracle_scores(weak, strong), weak, strong)
    assert anti.apgr - 1e-9 <= router.apgr <= oracle.apgr + 1e-9
    assert oracle.cpt50 <= router.cpt50 + 1e-9
    assert oracle.cpt80 <= router.cpt80 + 1e-9
    assert router.cpt50 <= router.cpt80 + 1e-9


@given(labels, st.randoms(use_true_random=False))
def test_curve_runs_from_weak_to_strong(rows: list[tuple[bool, bool]], rng: object) -> None:
    weak, strong = with_gap(rows)
    scores = np.array([rng.choice([0.0, 0.5, 1.0]) for _ in rows])  # type: ignore[attr-defined]
    curve = quality_curve(scores, weak, strong)
    assert curve.strong_share[0] == 0.0
    assert curve.strong_share[-1] == 1.0
    assert np.all(np.diff(curve.strong_share) > 0)
    assert curve.recovered[0] == pytest.approx(0.0)
    assert curve.recovered[-1] == pytest.approx(1.0)
    assert np.isfinite(apgr(curve))


@given(labels, st.lists(st.floats(0, 1), min_size=2, max_size=60), st.floats(0, 1), st.floats(0, 1))
def test_cpt_is_monotone_in_the_gap_share(
    rows: list[tuple[bool, bool]], raw: list[float], a: float, b: float
) -> None:
    weak, strong = with_gap(rows)
    scores = np.resize(np.array(raw), len(weak))
    curve = quality_curve(scores, weak, strong)
    low, high = sorted((a, b))
    assert 0.0 <= cpt(curve, low) <= cpt(curve, high) <= 1.0
    # At the share CPT reports, the curve has recovered (at least) that share of the gap.
    share = cpt(curve, high)
    assert np.interp(share, curve.strong_share, curve.recovered) >= high - 1e-9


@given(labels, st.randoms(use_true_random=False))
def test_scores_matter_only_through_their_order(rows: list[tuple[bool, bool]], rng: object) -> None:
    weak, strong = with_gap(rows)
    scores = np.array([rng.randint(0, 20) for _ in rows], dtype=float)  # type: ignore[attr-defined]
    first = routing_quality(scores, weak, strong)
    second = routing_quality(np.exp(scores / 4) - 7, weak, strong)
    assert first.apgr == pytest.approx(second.apgr)
    assert first.cpt50 == pytest.approx(second.cpt50)


def test_cpt_rejects_shares_outside_the_unit_interval() -> None:
    curve = quality_curve([1.0, 0.0], [False, True], [True, True])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cpt(curve, 1.5)
