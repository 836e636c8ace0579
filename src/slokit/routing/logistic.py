"""One L2-regularised logistic regression per model over the query features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from slokit.routing.predictor import Features, Labels, Probabilities, State, sigmoid

KIND = "logistic"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogisticConfig:
    """``l2`` is the penalty on the weights (not the intercepts), per training example."""

    l2: float = 1e-3
    max_iterations: int = 500

    def __post_init__(self) -> None:
        if self.l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")


class LogisticModel:
    """P(model m right | x) = sigmoid(w_m . x + b_m)."""

    def __init__(self, weights: NDArray[np.float64], intercepts: NDArray[np.float64]) -> None:
        self._weights = np.asarray(weights, dtype=np.float64)
        self._intercepts = np.asarray(intercepts, dtype=np.float64)

    @classmethod
    def fit(cls, features: Features, labels: Labels, config: LogisticConfig) -> LogisticModel:
        """Minimise mean log-loss + ``l2 * |w|^2 / 2`` by L-BFGS, each model on its own."""
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        n, dims = x.shape
        weights = np.zeros((dims, y.shape[1]))
        intercepts = np.zeros(y.shape[1])
        for m in range(y.shape[1]):
            target = y[:, m]

            def loss(
                params: NDArray[np.float64], target: NDArray[np.float64] = target
            ) -> tuple[float, NDArray[np.float64]]:
                w, b = params[:-1], params[-1]
                logits = x @ w + b
                # log(1 + e^z) - y z, stable for either sign of z.
                value = np.logaddexp(0.0, logits) - target * logits
                residual = (sigmoid(logits) - target) / n
                gradient = np.append(x.T @ residual + config.l2 * w, residual.sum())
                return float(value.mean() + 0.5 * config.l2 * w @ w), gradient

            result = minimize(
                loss,
                np.zeros(dims + 1),
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": config.max_iterations},
            )
            weights[:, m], intercepts[m] = result.x[:-1], result.x[-1]
        return cls(weights, intercepts)

    @property
    def kind(self) -> str:
        return KIND

    def predict(self, features: Features) -> Probabilities:
        return sigmoid(np.asarray(features, dtype=np.float64) @ self._weights + self._intercepts)

    def state(self) -> State:
        return {"weights": self._weights, "intercepts": self._intercepts}

    @classmethod
    def from_state(cls, state: State) -> LogisticModel:
        return cls(
            np.asarray(state["weights"], dtype=np.float64),
            np.asarray(state["intercepts"], dtype=np.float64),
        )
