"""The learned hit score: a logistic model over similarity, neighbourhood and lexical evidence.

For a query and its ``k`` nearest cached prompts, each candidate ``i`` gets features
``x_i`` (its cosine similarity, how far it stands above the other candidates, and the
:mod:`slokit.cache.verify` evidence) and a score ``w . z(x_i) + b`` (``z`` standardises), the
log-odds that serving its reply is correct. The threshold on that score is set by
:mod:`slokit.cache.calibration`, which is what bounds the false-hit rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from slokit.cache.verify import LEXICAL_FEATURE_NAMES, lexical_features
from slokit.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

FEATURE_NAMES: tuple[str, ...] = (
    "similarity",
    "similarity_log_distance",
    "gap_to_other_candidates",
    "rank",
    "similarity_x_jaccard",
    *LEXICAL_FEATURE_NAMES,
)


def candidate_features(query: str, candidates: Sequence[tuple[str, float]]) -> FloatArray:
    """One feature row per candidate ``(text, cosine similarity)``, in the given order."""
    rows = np.empty((len(candidates), len(FEATURE_NAMES)), dtype=np.float64)
    similarities = [similarity for _, similarity in candidates]
    for position, (text, similarity) in enumerate(candidates):
        others = similarities[:position] + similarities[position + 1 :]
        gap = similarity - max(others) if others else 1.0
        lexical = lexical_features(query, text)
        rows[position] = (
            similarity,
            -math.log(max(1e-6, 1.0 - similarity)),
            gap,
            float(position),
            similarity * lexical[0],
            *lexical,
        )
    return rows


@dataclass(frozen=True, slots=True, kw_only=True)
class HitModel:
    """Standardisation and logistic weights; ``score`` is the log-odds of a correct hit."""

    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def __post_init__(self) -> None:
        sizes = {len(self.feature_names), len(self.mean), len(self.scale), len(self.weights)}
        if len(sizes) != 1:
            raise ConfigError("a hit model needs one mean, scale and weight per feature")

    def score(self, features: FloatArray) -> FloatArray:
        standard = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(standard @ np.asarray(self.weights) + self.bias, dtype=np.float64)


def fit_hit_model(
    features: FloatArray, correct: npt.NDArray[np.bool_], *, l2: float = 1e-3
) -> HitModel:
    """Maximum likelihood logistic regression with an L2 penalty ``l2 * |w|^2``.

    Minimises ``mean(log(1 + exp(-y (w . z + b)))) + l2 |w|^2`` with ``y`` in {-1, +1}.
    """
    if len(features) == 0 or correct.all() or not correct.any():
        raise ConfigError("fitting a hit model needs both correct and wrong candidates")
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    standard = (features - mean) / scale
    signs = np.where(correct, 1.0, -1.0)
    # Rare correct candidates would otherwise be swamped; weight the classes equally.
    weight = np.where(correct, 0.5 / correct.mean(), 0.5 / (1 - correct.mean()))

    def loss(parameters: FloatArray) -> tuple[float, FloatArray]:
        w, b = parameters[:-1], parameters[-1]
        margin = signs * (standard @ w + b)
        value = float(np.mean(weight * np.logaddexp(0.0, -margin)) + l2 * w @ w)
        slope = -signs * weight / (1.0 + np.exp(margin)) / len(margin)
        gradient = np.append(standard.T @ slope + 2 * l2 * w, slope.sum())
        return value, gradient

    start = np.zeros(features.shape[1] + 1)
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    parameters = np.asarray(result.x, dtype=np.float64)
    return HitModel(
        feature_names=FEATURE_NAMES,
        mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale),
        weights=tuple(float(v) for v in parameters[:-1]),
        bias=float(parameters[-1]),
    )
