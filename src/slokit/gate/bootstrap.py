"""Bootstrap confidence intervals for the ratio of a statistic between two independent runs.

Quantiles are resampled exactly in O(resamples) time instead of O(resamples x samples): draw
``n`` indices uniformly from the sorted values ``x[0] <= ... <= x[n-1]`` as ``floor(n U_j)``
with ``U_j`` uniform on (0, 1). Because ``floor`` is monotone, the ``k``-th smallest (1-based)
drawn value is ``x[floor(n U_(k))]``, where ``U_(k)``, the ``k``-th order statistic of ``n``
uniforms, follows ``Beta(k, n + 1 - k)``. Given ``U_(k) = u``, the next one is the minimum of
the ``n - k`` uniforms left above ``u``::

    U_(k+1) = u + (1 - u) V,    V ~ Beta(1, n - k)

so the two order statistics that the linear-interpolation quantile (numpy's default, see
:mod:`slokit.slo.percentiles`) needs come from two draws per resample, with exactly the
distribution they have under ordinary resampling with replacement. The draws use the
identities ``Beta(a, b) = G_a / (G_a + G_b)`` with independent ``G_s ~ Gamma(s, 1)``, and
``Beta(1, m) = 1 - W^(1/m)`` with ``W`` uniform, both faster than a general Beta sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

#: Most values gathered at once when resampling a mean; bounds memory to about 32 MiB.
_MEAN_CHUNK_VALUES = 1 << 22


def sample_statistic(values: FloatArray, quantile: float | None) -> float:
    """The mean (``quantile is None``) or the linearly interpolated ``quantile`` of ``values``."""
    if quantile is None:
        return float(np.mean(values))
    return float(np.quantile(values, quantile, method="linear"))


def resample_quantile(
    sorted_values: FloatArray, quantile: float, *, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """The ``quantile`` of ``resamples`` bootstrap resamples of ``sorted_values`` (ascending).

    With ``h = quantile (n - 1)``, ``k = floor(h) + 1`` and ``f = h - floor(h)``, each resample's
    quantile is ``y_(k) + f (y_(k+1) - y_(k))``, its order statistics drawn as in the module
    docstring.
    """
    n = sorted_values.size
    position = quantile * (n - 1)
    rank = math.floor(position) + 1
    fraction = position - (rank - 1)
    below = rng.standard_gamma(rank, size=resamples)
    lower_u = below / (below + rng.standard_gamma(n + 1 - rank, size=resamples))
    # min() guards against U rounding up to 1.0, which would index one past the end.
    lower = sorted_values[np.minimum((lower_u * n).astype(np.int64), n - 1)]
    if fraction == 0.0 or rank == n:
        return lower
    # 1 - W^(1/m) as -expm1(ln(W) / m) keeps its precision when m is large; 1 - random() is
    # in (0, 1], so the logarithm is finite.
    gap = -np.expm1(np.log1p(-rng.random(resamples)) / (n - rank))
    upper_u = lower_u + (1.0 - lower_u) * gap
    upper = sorted_values[np.minimum((upper_u * n).astype(np.int64), n - 1)]
    # numpy's interpolation, to the last bit: from the nearer neighbour.
    if fraction >= 0.5:
        return upper - (1.0 - fraction) * (upper - lower)
    return lower + fraction * (upper - lower)


def resample_mean(values: FloatArray, *, resamples: int, rng: np.random.Generator) -> FloatArray:
    """The means of ``resamples`` bootstrap resamples of ``values``, drawn in bounded chunks."""
    n = values.size
    rows = max(1, _MEAN_CHUNK_VALUES // n)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


@dataclass(frozen=True, slots=True, kw_only=True)
class RatioInterval:
    """``ratio = S(candidate) / S(baseline)`` and a two-sided interval ``low <= ratio <= high``.

    Held as natural logarithms, where swapping the runs negates every number exactly.
    ``tail_probability`` is the nominal mass left out on each side, so the interval's
    confidence is ``1 - 2 tail_probability``.
    """

    log_ratio: float
    log_low: float
    log_high: float
    tail_probability: float

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio)

    @property
    def low(self) -> float:
        return math.exp(self.log_low)

    @property
    def high(self) -> float:
        return math.exp(self.log_high)


def ratio_interval(
    baseline: FloatArray,
    candidate: FloatArray,
    *,
    quantile: float | None,
    tail_probability: float,
    resamples: int,
    baseline_rng: np.random.Generator,
    candidate_rng: np.random.Generator,
) -> RatioInterval:
    """Percentile-bootstrap interval of ``S(candidate) / S(baseline)`` for independent runs.

    ``S`` is the mean (``quantile is None``) or the ``quantile`` of non-negative values. Each
    run is resampled ``B`` times with its own generator, giving log-ratio replicates
    ``d_b = ln S(y*_b) - ln S(x*_b)``; sorted ascending, with ``k = floor(a (B + 1))`` for
    ``a = tail_probability``::

        ln interval = [d_(k), d_(B + 1 - k)]

    so ``low > 1`` exactly when fewer than ``k`` replicates show no increase: the bootstrap
    test of "no increase" at level ``a``. The interval is widened to hold the point estimate,
    which a skewed, discrete bootstrap distribution (few samples, ties) can leave outside;
    widening only makes a decision more cautious. A replicate with both statistics 0 counts as
    no change. Swapping the runs together with their generators negates every log exactly.
    """
    if baseline.size < 2 or candidate.size < 2:
        raise ConfigError("a bootstrap interval needs at least two samples in each run")
    rank = math.floor(tail_probability * (resamples + 1))
    if rank < 1:
        needed = math.ceil(1.0 / tail_probability)
        raise ConfigError(
            f"{resamples} resamples cannot resolve a tail probability of {tail_probability:.3g}; "
            f"use at least {needed} resamples"
        )
    replicates = _log_ratios(
        _resample(candidate, quantile, resamples=resamples, rng=candidate_rng),
        _resample(baseline, quantile, resamples=resamples, rng=baseline_rng),
    )
    replicates.sort()
    point = float(
        _log_ratios(
            np.array([sample_statistic(candidate, quantile)]),
            np.array([sample_statistic(baseline, quantile)]),
        )[0]
    )
    return RatioInterval(
        log_ratio=point,
        log_low=min(float(replicates[rank - 1]), point),
        log_high=max(float(replicates[resamples - rank]), point),
        tail_probability=tail_probability,
    )


def _resample(
    values: FloatArray, quantile: float | None, *, resamples: int, rng: np.random.Generator
) -> FloatArray:
    if quantile is None:
        return resample_mean(values, resamples=resamples, rng=rng)
    return resample_quantile(np.sort(values), quantile, resamples=resamples, rng=rng)


def _log_ratios(numerators: FloatArray, denominators: FloatArray) -> FloatArray:
    """Element-wise ``ln numerator - ln denominator``, with ``0 / 0`` read as no change."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(numerators) - np.log(denominators)
    logs[np.isnan(logs)] = 0.0
    return logs
