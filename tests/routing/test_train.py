"""Training a difficulty router on synthetic data with the hashing embedder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from slokit.embedding import HashingEmbedder
from slokit.errors import ConfigError, DataError
from slokit.routing import (
    LIGHT_MODELS,
    STRONG,
    WEAK,
    CostBudget,
    FactorisationConfig,
    FeatureSpec,
    LabelledSet,
    StrongShare,
    TrainConfig,
    load_router,
    oracle_scores,
    routing_quality,
    save_router,
    train_router,
)

EMBEDDER = HashingEmbedder(dimensions=64)
FAST = FactorisationConfig(rank=4, max_iterations=100)


@pytest.mark.parametrize("kind", LIGHT_MODELS)
def test_each_light_model_learns_which_topic_is_hard(
    examples: LabelledSet, kind: str, make_examples: Callable[..., LabelledSet]
) -> None:
    config = TrainConfig(candidates=(kind,), factorisation=FAST)
    trained = train_router(examples, EMBEDDER, config)
    held_out = make_examples(100, seed=1)
    scores = trained.router.scores_from(trained.router.probabilities(held_out.prompts))
    quality = routing_quality(scores, held_out.column(WEAK), held_out.column(STRONG))
    assert trained.chosen == kind
    weak, strong = held_out.column(WEAK), held_out.column(STRONG)
    oracle = routing_quality(oracle_scores(weak, strong), weak, strong)
    assert quality.apgr > 0.8 * oracle.apgr
    assert quality.cpt50 < 0.35


def test_the_best_validation_apgr_is_chosen(examples: LabelledSet) -> None:
    trained = train_router(examples, EMBEDDER, TrainConfig(factorisation=FAST))
    assert set(trained.validation) == set(LIGHT_MODELS)
    best = max(trained.validation.values(), key=lambda quality: quality.apgr)
    assert trained.validation[trained.chosen] == best


@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 1.0])
def test_strong_share_target_holds_on_like_traffic(
    examples: LabelledSet, share: float, make_examples: Callable[..., LabelledSet]
) -> None:
    config = TrainConfig(candidates=("logistic",), target=StrongShare(share=share))
    router = train_router(examples, EMBEDDER, config).router
    traffic = make_examples(400, seed=2)
    decisions = router.route_many(traffic.prompts)
    strong_share = np.mean([decision.model == STRONG for decision in decisions])
    # Calibrated on 40 validation prompts; new traffic of the same kind lands near it.
    assert strong_share <= share + 0.1
    if share >= 0.5:
        assert strong_share >= 0.4


def test_cost_budget_bounds_the_mean_price(
    examples: LabelledSet, make_examples: Callable[..., LabelledSet]
) -> None:
    config = TrainConfig(
        candidates=("knn",),
        prices={WEAK: 0.5, STRONG: 20.0},
        target=CostBudget(mean_price=4.0),
    )
    router = train_router(examples, EMBEDDER, config).router
    traffic = make_examples(400, seed=3)
    prices = {WEAK: 0.5, STRONG: 20.0}
    mean_price = np.mean([prices[d.model] for d in router.route_many(traffic.prompts)])
    assert mean_price <= 4.0 * 1.5
    assert router.spec.tradeoff > 0


def test_budget_below_the_cheapest_price_is_refused(examples: LabelledSet) -> None:
    config = TrainConfig(candidates=("knn",), target=CostBudget(mean_price=0.5))
    with pytest.raises(ConfigError, match="cheapest"):
        train_router(examples, EMBEDDER, config)


def test_missing_prices_are_named(examples: LabelledSet) -> None:
    config = TrainConfig(candidates=("knn",), prices={WEAK: 1.0})
    with pytest.raises(ConfigError, match="strong"):
        train_router(examples, EMBEDDER, config)


def test_unknown_light_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown light models"):
        TrainConfig(candidates=("bert",))


def test_too_few_examples_are_a_data_error(make_examples: Callable[..., LabelledSet]) -> None:
    with pytest.raises(DataError, match="too few"):
        train_router(make_examples(4), EMBEDDER, TrainConfig(candidates=("knn",)))


def test_three_models_with_prices_spend_on_the_hardest() -> None:
    # small is right on easy prompts, medium on all but the hardest, large on everything.
    prompts, labels = [], []
    for i in range(300):
        level = i % 3
        word = ("apple", "algebra", "homology")[level]
        prompts.append(f"{word} {word} question {i}")
        labels.append((level == 0, level <= 1, True))
    data = LabelledSet(tuple(prompts), ("large", "medium", "small"), np.array(labels)[:, ::-1])
    config = TrainConfig(
        candidates=("knn",),
        prices={"small": 1.0, "medium": 3.0, "large": 10.0},
        # The right model for each third costs (1 + 3 + 10) / 3 on average; some slack for
        # the thirds being uneven among the 60 validation prompts.
        target=CostBudget(mean_price=6.0),
    )
    router = train_router(data, EMBEDDER, config).router
    picks = {
        word: router.route(f"{word} {word} question 1000").model
        for word in ("apple", "algebra", "homology")
    }
    price = {"small": 1.0, "medium": 3.0, "large": 10.0}
    # Within the budget, pricier models go to the harder prompts.
    assert picks["homology"] == "large"
    assert picks["algebra"] != "large"
    assert price[picks["apple"]] <= price[picks["algebra"]]


@pytest.mark.parametrize("kind", LIGHT_MODELS)
def test_router_file_round_trip(examples: LabelledSet, kind: str, tmp_path: Path) -> None:
    config = TrainConfig(candidates=(kind,), features=FeatureSpec(length=True), factorisation=FAST)
    router = train_router(examples, EMBEDDER, config).router
    path = tmp_path / "router.json"
    save_router(router, path)
    loaded = load_router(path)
    assert loaded.spec == router.spec
    assert loaded.embedder.name == EMBEDDER.name
    np.testing.assert_allclose(
        loaded.probabilities(examples.prompts), router.probabilities(examples.prompts)
    )


def test_a_router_file_refuses_another_embedder(examples: LabelledSet, tmp_path: Path) -> None:
    router = train_router(examples, EMBEDDER, TrainConfig(candidates=("knn",))).router
    path = tmp_path / "router.json"
    save_router(router, path)
    with pytest.raises(DataError, match="trained on embedder"):
        load_router(path, HashingEmbedder(dimensions=32))


def test_not_a_router_file(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a router file"):
        load_router(path)
