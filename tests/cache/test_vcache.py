"""Per-entry thresholds: the prior fit, each entry's own fit, and the per-lookup error bound."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.cache.vcache import (
    EntryFeedback,
    EntryModel,
    PerEntryThresholds,
    SimilarityPrior,
    VCacheConfig,
    fit_entry,
    fit_prior,
)
from slokit.errors import ConfigError

PRIOR = SimilarityPrior(centre=0.88, slope=15.0)


def sigmoid_labels(
    rng: np.random.Generator, centre: float, slope: float, count: int
) -> tuple[np.ndarray, np.ndarray]:
    similarities = rng.uniform(0.6, 1.0, count)
    correct = rng.random(count) < 1.0 / (1.0 + np.exp(-slope * (similarities - centre)))
    return similarities, correct


def test_the_prior_recovers_the_sigmoid_it_was_drawn_from() -> None:
    similarities, correct = sigmoid_labels(np.random.default_rng(0), 0.85, 30.0, 20_000)
    prior = fit_prior(similarities.tolist(), correct.tolist())
    assert prior.centre == pytest.approx(0.85, abs=0.01)
    assert prior.slope == pytest.approx(30.0, rel=0.15)
    with pytest.raises(ConfigError):
        fit_prior([0.9, 0.95], [True, True])


def test_an_entry_moves_from_the_prior_towards_its_own_feedback() -> None:
    assert fit_entry(EntryFeedback(), PRIOR) == EntryModel(0.88, 15.0, PRIOR.sd_centre)
    # An entry wrong even at high similarity (a prompt whose answer depends on details).
    feedback = EntryFeedback([0.93, 0.95, 0.96, 0.97] * 5, [False] * 20)
    model = fit_entry(feedback, PRIOR)
    assert model.centre > PRIOR.centre
    assert model.centre_se < PRIOR.sd_centre


@given(similarity=st.floats(0.0, 1.0), z=st.floats(0.0, 3.0))
def test_the_cautious_wrong_probability_is_a_probability_falling_with_similarity(
    similarity: float, z: float
) -> None:
    model = EntryModel(0.88, 15.0, 0.03)
    wrong = model.wrong_upper(similarity, z)
    assert 0.0 <= wrong <= 1.0
    assert model.wrong_upper(min(1.0, similarity + 0.01), z) <= wrong
    assert model.wrong_upper(similarity, z + 0.5) >= wrong


def test_false_hits_per_lookup_stay_under_the_bound_when_the_model_holds() -> None:
    rng = np.random.default_rng(1)
    similarities, correct = sigmoid_labels(rng, 0.88, 15.0, 20_000)
    bound = 0.02
    thresholds = PerEntryThresholds(VCacheConfig(max_false_hit_rate=bound), PRIOR, random.Random(0))
    false_hits = served = 0
    for position, (similarity, ok) in enumerate(zip(similarities, correct, strict=True)):
        key = f"entry-{position % 500}"
        if thresholds.serve(key, float(similarity)):
            served += 1
            false_hits += not ok
        else:
            thresholds.observe(key, float(similarity), correct=bool(ok))
    assert served > 0
    assert false_hits / len(similarities) <= bound
    assert thresholds.observations("entry-0") > 0
    thresholds.forget("entry-0")
    assert thresholds.observations("entry-0") == 0


def test_configs_refuse_meaningless_values() -> None:
    with pytest.raises(ConfigError):
        VCacheConfig(max_false_hit_rate=0.0)
    with pytest.raises(ConfigError):
        VCacheConfig(max_false_hit_rate=0.01, confidence=1.0)
    with pytest.raises(ConfigError):
        SimilarityPrior(centre=0.9, slope=-1.0)
    assert SimilarityPrior(centre=0.9, slope=10.0).slope_sd == 5.0
    assert not math.isnan(PRIOR.slope_sd)
