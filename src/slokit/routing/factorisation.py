"""Matrix factorisation (RouteLLM's ``mf``): queries and models meet in a small latent space."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from slokit.routing.predictor import Features, Labels, Probabilities, State, sigmoid

KIND = "mf"


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorisationConfig:
    """``rank`` latent dimensions; ``l2`` penalises the projection and the model vectors."""

    rank: int = 16
    l2: float = 1e-3
    max_iterations: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if self.l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")


class FactorisationModel:
    """P(model m right | x) = sigmoid(v_m . (P x) + b_m), with P (rank x dims) shared by models.

    The query's latent vector ``P x`` is learned once for all models, so one set of labels
    informs every model's estimate: the factorisation of the query x model correctness matrix.
    """

    def __init__(
        self,
        projection: NDArray[np.float64],
        model_vectors: NDArray[np.float64],
        intercepts: NDArray[np.float64],
    ) -> None:
        self._projection = np.asarray(projection, dtype=np.float64)
        self._model_vectors = np.asarray(model_vectors, dtype=np.float64)
        self._intercepts = np.asarray(intercepts, dtype=np.float64)

    @classmethod
    def fit(
        cls, features: Features, labels: Labels, config: FactorisationConfig
    ) -> FactorisationModel:
        """Minimise mean log-loss over all (query, model) cells + L2, by L-BFGS."""
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        n, dims = x.shape
        models, rank = y.shape[1], config.rank
        sizes = (rank * dims, rank * models, models)

        def unpack(
            params: NDArray[np.float64],
        ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
            p, v, b = np.split(params, np.cumsum(sizes)[:-1])
            return p.reshape(rank, dims), v.reshape(rank, models), b

        def loss(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            p, v, b = unpack(params)
            latent = x @ p.T
            logits = latent @ v + b
            value = (np.logaddexp(0.0, logits) - y * logits).sum() / n
            residual = (sigmoid(logits) - y) / n
            grad_v = latent.T @ residual + config.l2 * v
            grad_p = (residual @ v.T).T @ x + config.l2 * p
            penalty = 0.5 * config.l2 * (np.sum(p * p) + np.sum(v * v))
            gradient = np.concatenate((grad_p.ravel(), grad_v.ravel(), residual.sum(axis=0)))
            return float(value + penalty), gradient

        rng = np.random.default_rng(config.seed)
        start = np.concatenate(
            (
                rng.normal(0.0, 0.1, sizes[0]),
                rng.normal(0.0, 0.1, sizes[1]),
                np.zeros(models),
            )
        )
        result = minimize(
            loss, start, jac=True, method="L-BFGS-B", options={"maxiter": config.max_iterations}
        )
        return cls(*unpack(result.x))

    @property
    def kind(self) -> str:
        return KIND

    def predict(self, features: Features) -> Probabilities:
        latent = np.asarray(features, dtype=np.float64) @ self._projection.T
        return sigmoid(latent @ self._model_vectors + self._intercepts)

    def state(self) -> State:
        return {
            "projection": self._projection,
            "model_vectors": self._model_vectors,
            "intercepts": self._intercepts,
        }

    @classmethod
    def from_state(cls, state: State) -> FactorisationModel:
        return cls(
            np.asarray(state["projection"], dtype=np.float64),
            np.asarray(state["model_vectors"], dtype=np.float64),
            np.asarray(state["intercepts"], dtype=np.float64),
        )
