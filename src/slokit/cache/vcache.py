"""Per-entry learned thresholds in the manner of vCache (arXiv 2502.03771), from the paper only.

Each cached entry keeps the feedback of the lookups it was nearest to: ``(s_i, y_i)``, the
cosine similarity and whether its reply was right for that lookup (known after the model was
called anyway, by comparing the fresh reply with the cached one). It models

    P(correct | s) = sigmoid(k (s - c))

with its own centre ``c`` and slope ``k``: the maximum a posteriori fit under a Gaussian prior
``c ~ N(c0, sd_c^2)``, ``k ~ N(k0, sd_k^2)``, where ``(c0, k0)`` is fitted once on labelled
lookups of all entries (so a new entry starts from what holds on average). Uncertainty in
``c`` (Laplace approximation, ``se_c``) is pushed to the cautious side:

    p_wrong(s) = 1 - sigmoid(k (s - c - z se_c)),   z = Phi^-1(confidence).

A lookup is served with probability ``min(1, eps / p_wrong(s))`` and explored (the model is
called and the outcome recorded) otherwise. So each lookup's chance of a false hit is at most
``eps`` whenever ``p_wrong`` is an upper bound: the bound holds per lookup, with no assumption
that traffic resembles a calibration set, but it is only as good as the per-entry model.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.stats import norm

from slokit.errors import ConfigError

DEFAULT_PRIOR_SD_CENTRE = 0.03
NEWTON_STEPS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class SimilarityPrior:
    """``(c0, k0)``: the sigmoid shared by all entries before they have their own feedback."""

    centre: float
    slope: float
    sd_centre: float = DEFAULT_PRIOR_SD_CENTRE
    sd_slope: float = 0.0

    def __post_init__(self) -> None:
        if not self.slope > 0:
            raise ConfigError(f"the prior slope must be > 0, got {self.slope}")
        if not self.sd_centre > 0:
            raise ConfigError(f"sd_centre must be > 0, got {self.sd_centre}")

    @property
    def slope_sd(self) -> float:
        """``sd_k``: half the slope unless given."""
        return self.sd_slope or self.slope / 2


def fit_prior(
    similarities: Sequence[float],
    correct: Sequence[bool],
    *,
    sd_centre: float = DEFAULT_PRIOR_SD_CENTRE,
) -> SimilarityPrior:
    """Maximum likelihood ``(c0, k0)`` of ``P(correct | s) = sigmoid(k (s - c))``."""
    s = np.asarray(similarities, dtype=np.float64)
    y = np.asarray(correct, dtype=np.float64)
    if len(s) == 0 or y.min() == y.max():
        raise ConfigError("fitting the similarity prior needs both correct and wrong lookups")

    def loss(theta: np.ndarray) -> float:
        z = theta[1] * (s - theta[0])
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    result = minimize(loss, np.array([float(np.median(s)), 20.0]), method="Nelder-Mead")
    centre, slope = (float(v) for v in result.x)
    return SimilarityPrior(centre=centre, slope=max(slope, 1e-3), sd_centre=sd_centre)


@dataclass(slots=True)
class EntryFeedback:
    """The similarities of the lookups an entry was nearest to, and whether it was right."""

    similarities: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EntryModel:
    """An entry's fitted sigmoid and the standard error of its centre."""

    centre: float
    slope: float
    centre_se: float

    def wrong_upper(self, similarity: float, z: float) -> float:
        """``1 - sigmoid(k (s - c - z se_c))``: a cautious chance that serving is wrong."""
        margin = self.slope * (similarity - self.centre - z * self.centre_se)
        return 1.0 / (1.0 + math.exp(min(50.0, margin)))


def fit_entry(feedback: EntryFeedback, prior: SimilarityPrior) -> EntryModel:
    """MAP ``(c, k)`` by Newton steps from the prior, and the Laplace ``se_c``.

    Minimises ``sum(log(1 + e^z_i) - y_i z_i) + (c - c0)^2 / 2 sd_c^2 + (k - k0)^2 / 2 sd_k^2``
    with ``z_i = k (s_i - c)``; the curvature uses the Fisher information ``p (1 - p)``.
    """
    inv_c, inv_k = 1.0 / prior.sd_centre**2, 1.0 / prior.slope_sd**2
    if not feedback.similarities:
        return EntryModel(prior.centre, prior.slope, prior.sd_centre)
    s = np.asarray(feedback.similarities)
    y = np.asarray(feedback.correct, dtype=np.float64)
    centre, slope = prior.centre, prior.slope
    hessian = np.diag([inv_c, inv_k])
    for _ in range(NEWTON_STEPS):
        a = s - centre
        p = 1.0 / (1.0 + np.exp(-slope * a))
        w = p * (1.0 - p)
        gradient = np.array(
            [
                float(np.sum((p - y) * -slope)) + (centre - prior.centre) * inv_c,
                float(np.sum((p - y) * a)) + (slope - prior.slope) * inv_k,
            ]
        )
        cross = float(np.sum(w * -slope * a))
        hessian = np.array(
            [
                [float(np.sum(w * slope**2)) + inv_c, cross],
                [cross, float(np.sum(w * a**2)) + inv_k],
            ]
        )
        step = np.linalg.solve(hessian, gradient)
        centre, slope = centre - float(step[0]), max(1e-3, slope - float(step[1]))
    covariance = np.linalg.inv(hessian)
    return EntryModel(centre, slope, math.sqrt(max(float(covariance[0, 0]), 0.0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class VCacheConfig:
    """The per-lookup false-hit bound ``eps`` and the confidence behind ``p_wrong``."""

    max_false_hit_rate: float
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 < self.max_false_hit_rate < 1.0:
            raise ConfigError(
                f"max_false_hit_rate must be in (0, 1), got {self.max_false_hit_rate}"
            )
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"confidence must be in [0.5, 1), got {self.confidence}")


class PerEntryThresholds:
    """The serve-or-explore decision and the feedback it learns from, per entry key."""

    __slots__ = ("_config", "_feedback", "_models", "_prior", "_rng", "_z")

    def __init__(self, config: VCacheConfig, prior: SimilarityPrior, rng: random.Random) -> None:
        self._config = config
        self._prior = prior
        self._rng = rng
        self._z = float(norm.ppf(config.confidence))
        self._feedback: dict[str, EntryFeedback] = {}
        self._models: dict[str, EntryModel] = {}

    def serve(self, key: str, similarity: float) -> bool:
        """Whether to serve entry ``key`` to a lookup at ``similarity`` (else: explore)."""
        model = self._models.get(key) or EntryModel(
            self._prior.centre, self._prior.slope, self._prior.sd_centre
        )
        wrong = model.wrong_upper(similarity, self._z)
        bound = self._config.max_false_hit_rate
        return wrong <= bound or self._rng.random() < bound / wrong

    def observe(self, key: str, similarity: float, *, correct: bool) -> None:
        """Feedback from an explored lookup: would entry ``key`` have been right?"""
        feedback = self._feedback.setdefault(key, EntryFeedback())
        feedback.similarities.append(similarity)
        feedback.correct.append(correct)
        self._models[key] = fit_entry(feedback, self._prior)

    def forget(self, key: str) -> None:
        """Drop an evicted or replaced entry's feedback."""
        self._feedback.pop(key, None)
        self._models.pop(key, None)

    def observations(self, key: str) -> int:
        feedback = self._feedback.get(key)
        return 0 if feedback is None else len(feedback.similarities)
