"""k nearest neighbours over unit-length embeddings: the neighbours' smoothed correctness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slokit.routing.predictor import Features, Labels, Probabilities, State

KIND = "knn"


@dataclass(frozen=True, slots=True, kw_only=True)
class KNNConfig:
    """``neighbours`` by cosine similarity; ``prior_weight`` pseudo-examples at the base rate
    keep a few neighbours from giving 0 or 1."""

    neighbours: int = 50
    prior_weight: float = 2.0

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours}")
        if self.prior_weight < 0:
            raise ValueError(f"prior_weight must be >= 0, got {self.prior_weight}")


class KNNModel:
    """P(model right | query) = (right among the k most similar + prior) / (k + prior weight)."""

    def __init__(self, features: Features, labels: Labels, config: KNNConfig) -> None:
        if len(features) == 0:
            raise ValueError("kNN needs at least one training example")
        # Kept at float16 precision, which halves the router file and barely moves cosine
        # ranks; held as float32 so a query needs no conversion of the whole matrix.
        self._features = np.asarray(features, dtype=np.float16).astype(np.float32)
        self._labels = np.asarray(labels, dtype=np.bool_)
        self._config = config
        self._base_rate = self._labels.mean(axis=0)

    @property
    def kind(self) -> str:
        return KIND

    def predict(self, features: Features) -> Probabilities:
        k = min(self._config.neighbours, len(self._features))
        similarity = np.asarray(features, dtype=np.float32) @ self._features.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        right = self._labels[nearest].sum(axis=1, dtype=np.float64)
        prior = self._config.prior_weight
        result: Probabilities = (right + prior * self._base_rate) / (k + prior)
        return result

    def state(self) -> State:
        return {
            "features": self._features.astype(np.float16),
            "labels": self._labels,
            "neighbours": self._config.neighbours,
            "prior_weight": self._config.prior_weight,
        }

    @classmethod
    def from_state(cls, state: State) -> KNNModel:
        config = KNNConfig(
            neighbours=int(_number(state["neighbours"])),
            prior_weight=float(_number(state["prior_weight"])),
        )
        features = np.asarray(state["features"], dtype=np.float32)
        return cls(features, np.asarray(state["labels"], dtype=np.bool_), config)


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)
