"""The ``Router`` protocol and the difficulty router: embed, predict correctness, choose."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from slokit.embedding import Embedder
from slokit.errors import ConfigError
from slokit.routing.features import FeatureSpec, featurise
from slokit.routing.policy import ModelPrice, Target, choose
from slokit.routing.predictor import CorrectnessModel, Probabilities


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDecision:
    """The model a request goes to, and why.

    ``score`` is the predicted gain in correctness of the priciest model over the cheapest
    (``p_strong - p_weak`` with two models): the router's difficulty score.
    """

    model: str
    score: float
    probabilities: dict[str, float]


class Router(Protocol):
    """Scores a request and picks the model to serve it."""

    def route(self, prompt: str) -> RouteDecision: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSpec:
    """What a trained difficulty router is made of, beside its embedder and light model.

    ``tradeoff`` is the calibrated threshold (see :mod:`slokit.routing.policy` for its
    meaning) and ``target`` what it was calibrated to meet.
    """

    models: tuple[ModelPrice, ...]
    features: FeatureSpec
    tradeoff: float
    target: Target

    def __post_init__(self) -> None:
        names = [model.name for model in self.models]
        prices = [model.price for model in self.models]
        if len(names) < 2:
            raise ConfigError("routing needs at least two models")
        if len(set(names)) != len(names):
            raise ConfigError(f"model names must be distinct, got {names}")
        if len(set(prices)) != len(prices):
            raise ConfigError(f"model prices must be distinct to rank the models, got {prices}")
        if not np.isfinite(self.tradeoff) or self.tradeoff < 0:
            raise ConfigError(f"tradeoff must be a number >= 0, got {self.tradeoff}")


class DifficultyRouter:
    """Routes by how likely each model is to answer correctly, weighed against its price."""

    def __init__(self, embedder: Embedder, model: CorrectnessModel, spec: RouterSpec) -> None:
        self.embedder = embedder
        self.model = model
        self.spec = spec
        self._prices = np.array([model.price for model in spec.models])
        self._cheapest = int(np.argmin(self._prices))
        self._priciest = int(np.argmax(self._prices))

    def route(self, prompt: str) -> RouteDecision:
        return self.route_many([prompt])[0]

    def route_many(self, prompts: Sequence[str], *, progress: bool = False) -> list[RouteDecision]:
        probabilities = self.probabilities(prompts, progress=progress)
        chosen = choose(probabilities, self._prices, self.spec.tradeoff)
        names = [model.name for model in self.spec.models]
        scores = self.scores_from(probabilities)
        return [
            RouteDecision(
                model=names[choice],
                score=float(score),
                probabilities=dict(zip(names, row.tolist(), strict=True)),
            )
            for choice, score, row in zip(chosen.tolist(), scores, probabilities, strict=True)
        ]

    def probabilities(self, prompts: Sequence[str], *, progress: bool = False) -> Probabilities:
        """``(n, models)`` predicted chance that each model answers each prompt correctly."""
        features = featurise(self.embedder, prompts, self.spec.features, progress=progress)
        return self.model.predict(features)

    def scores_from(self, probabilities: Probabilities) -> Probabilities:
        """Difficulty scores: predicted correctness of the priciest minus the cheapest."""
        gain: Probabilities = probabilities[:, self._priciest] - probabilities[:, self._cheapest]
        return gain
