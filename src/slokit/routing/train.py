"""Training a difficulty router: pick the best light model by cross-validation, calibrate it.

The candidates are compared by ``folds``-fold cross-validation over all the examples: each is
fitted on ``folds - 1`` parts and predicts the last, and its APGR over those out-of-fold
predictions scores it (one 20% split moves the APGR by about 0.02 on a few thousand examples,
as much as the gaps between light models; five folds cut that about in half). The winner is
then fitted on a seeded fitting part and kept as it is, not refitted, so that the trade-off,
calibrated to the target on its predictions for the ``validation`` part, is calibrated on
exactly the model that routes, for examples it has never seen. ``folds=1`` compares the
candidates on that one split instead.

The ``subject`` light model also learns from the examples' subject labels; it is a candidate
only when the data has them, and is skipped otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from slokit.embedding import Embedder
from slokit.errors import ConfigError, DataError
from slokit.routing import factorisation, knn, logistic, subject
from slokit.routing.data import LabelledSet
from slokit.routing.factorisation import FactorisationConfig, FactorisationModel
from slokit.routing.features import FeatureSpec, featurise
from slokit.routing.knn import KNNConfig, KNNModel
from slokit.routing.logistic import LogisticConfig, LogisticModel
from slokit.routing.metrics import RoutingQuality, routing_quality
from slokit.routing.policy import ModelPrice, StrongShare, Target, calibrate
from slokit.routing.predictor import CorrectnessModel, Features, Labels
from slokit.routing.router import DifficultyRouter, RouterSpec
from slokit.routing.subject import SubjectConfig, SubjectModel

LIGHT_MODELS = (knn.KIND, logistic.KIND, factorisation.KIND, subject.KIND)
# Light models that learn from subject labels as well as correctness.
NEEDS_SUBJECTS = frozenset({subject.KIND})

Fitter = Callable[[Features, Labels, tuple[str, ...] | None], CorrectnessModel]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """How a router is trained.

    ``prices`` maps each model in the data to its price per query; absent, the models are
    priced 1, 2, ... in the data's order (weak before strong). ``candidates`` are the light
    models compared by ``folds``-fold cross-validation; the chosen one is fitted on all but the
    ``validation`` share of the examples (split with ``seed``) and calibrated on that share.
    """

    target: Target = field(default_factory=lambda: StrongShare(share=0.5))
    prices: Mapping[str, float] | None = None
    candidates: tuple[str, ...] = LIGHT_MODELS
    features: FeatureSpec = field(default_factory=FeatureSpec)
    validation: float = 0.2
    folds: int = 5
    seed: int = 0
    knn: KNNConfig = field(default_factory=KNNConfig)
    logistic: LogisticConfig = field(default_factory=LogisticConfig)
    factorisation: FactorisationConfig = field(default_factory=FactorisationConfig)
    subject: SubjectConfig = field(default_factory=SubjectConfig)

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ConfigError("give at least one light model to train")
        unknown = sorted(set(self.candidates) - set(LIGHT_MODELS))
        if unknown:
            raise ConfigError(f"unknown light models {unknown}; choose from {list(LIGHT_MODELS)}")
        if not 0.0 < self.validation < 1.0:
            raise ConfigError(f"validation must be a share in (0, 1), got {self.validation}")
        if self.folds < 1:
            raise ConfigError(f"folds must be >= 1, got {self.folds}")

    def fitter(self, kind: str) -> Fitter:
        """A function fitting the light model ``kind`` from features, labels and subjects."""
        if kind == knn.KIND:
            return lambda x, y, _: KNNModel(x, y, self.knn)
        if kind == logistic.KIND:
            return lambda x, y, _: LogisticModel.fit(x, y, self.logistic)
        if kind == subject.KIND:
            return lambda x, y, s: SubjectModel.fit(x, y, _required(s), self.subject)
        return lambda x, y, _: FactorisationModel.fit(x, y, self.factorisation)


def _required(subjects: tuple[str, ...] | None) -> tuple[str, ...]:
    if subjects is None:
        raise DataError("the 'subject' light model needs a 'subject' string in every example")
    return subjects


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainedRouter:
    """The router, and each candidate's quality: out-of-fold over all the examples with
    ``folds > 1``, else on the validation examples."""

    router: DifficultyRouter
    chosen: str
    validation: Mapping[str, RoutingQuality]


def model_prices(
    models: tuple[str, ...], prices: Mapping[str, float] | None
) -> tuple[ModelPrice, ...]:
    """Each data model with its price; missing prices are a configuration error."""
    if prices is None:
        return tuple(ModelPrice(name=name, price=float(i + 1)) for i, name in enumerate(models))
    missing = [name for name in models if name not in prices]
    if missing:
        raise ConfigError(f"no price for models {missing}; the data labels {list(models)}")
    return tuple(ModelPrice(name=name, price=float(prices[name])) for name in models)


def train_router(
    examples: LabelledSet,
    embedder: Embedder,
    config: TrainConfig,
    *,
    progress: bool = False,
) -> TrainedRouter:
    """Fit each candidate, keep the best by validation APGR, calibrate; see the module doc."""
    models = model_prices(examples.models, config.prices)
    prices = np.array([model.price for model in models])
    cheapest, priciest = int(np.argmin(prices)), int(np.argmax(prices))
    features = featurise(embedder, examples.prompts, config.features, progress=progress)
    labels = examples.correct
    order = np.random.default_rng(config.seed).permutation(len(examples))
    held = round(config.validation * len(examples))
    if held < 2 or len(examples) - held < 2:
        raise DataError(f"{len(examples)} examples are too few to train and validate a router")
    fit_rows, check_rows = np.sort(order[held:]), np.sort(order[:held])
    weak_right, strong_right = labels[check_rows, cheapest], labels[check_rows, priciest]
    if weak_right.mean() == strong_right.mean():
        raise DataError(
            "the cheapest and priciest models are equally accurate on the validation examples: "
            "nothing to route for"
        )
    candidates = config.candidates
    if examples.subjects is None:
        candidates = tuple(kind for kind in candidates if kind not in NEEDS_SUBJECTS)
        if not candidates:
            raise DataError(
                f"light models {list(config.candidates)} need a 'subject' string in every example"
            )

    def fit(kind: str, rows: NDArray[np.intp]) -> CorrectnessModel:
        return config.fitter(kind)(features[rows], labels[rows], examples.take(rows).subjects)

    quality: dict[str, RoutingQuality] = {}
    if config.folds > 1:
        parts = np.array_split(order, config.folds)
        for kind in candidates:
            predicted = np.empty(labels.shape, dtype=np.float64)
            for k, part in enumerate(parts):
                rest = np.sort(np.concatenate([p for j, p in enumerate(parts) if j != k]))
                predicted[part] = fit(kind, rest).predict(features[part])
            gain = predicted[:, priciest] - predicted[:, cheapest]
            quality[kind] = routing_quality(gain, labels[:, cheapest], labels[:, priciest])
    else:
        for kind in candidates:
            predicted = fit(kind, fit_rows).predict(features[check_rows])
            gain = predicted[:, priciest] - predicted[:, cheapest]
            quality[kind] = routing_quality(gain, weak_right, strong_right)
    chosen = max(candidates, key=lambda kind: quality[kind].apgr)
    final = fit(chosen, fit_rows)
    predicted = final.predict(features[check_rows])
    tradeoff = calibrate(predicted, prices, config.target)
    spec = RouterSpec(
        models=models, features=config.features, tradeoff=tradeoff, target=config.target
    )
    return TrainedRouter(
        router=DifficultyRouter(embedder, final, spec), chosen=chosen, validation=quality
    )
