"""The ``CorrectnessModel`` protocol: from features, each model's chance of answering right."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Features = NDArray[np.float32]
Probabilities = NDArray[np.float64]
Labels = NDArray[np.bool_]
State = dict[str, NDArray[np.generic] | float | int | str]


class CorrectnessModel(Protocol):
    """A fitted light model over query features (kNN, logistic regression, factorisation)."""

    @property
    def kind(self) -> str: ...

    def predict(self, features: Features) -> Probabilities:
        """``(n, models)`` estimated probabilities that each model answers each query right."""
        ...

    def state(self) -> State:
        """Arrays and numbers that rebuild this model with its kind's ``from_state``."""
        ...


def sigmoid(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """``1 / (1 + exp(-x))`` without overflow warnings for large ``|x|``."""
    clipped = np.clip(logits, -500.0, 500.0)
    result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-clipped))
    return result
