"""Exact percentiles and the latency summary every report shows.

Definition (numpy's default, ``method="linear"``): sort the ``n`` values into ``x[0] <= ... <=
x[n-1]``; quantile ``q`` in ``[0, 1]`` sits at position ``h = q * (n - 1)`` and is interpolated
between its neighbours::

    Q(q) = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])

so ``Q(0)`` is the minimum, ``Q(1)`` the maximum and ``Q(0.5)`` the usual median.

NaN values mark a missing measurement (for example the time per output token of a one-token
answer) and are left out of every statistic. Infinite values are rejected: an infinite latency
has no place in an interpolation, and dropping it would hide the worst request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError

#: The percentiles of :class:`Summary`, by key; ``p99_9`` is the 99.9th percentile.
SUMMARY_QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99_9", 0.999),
)


def quantile(values_s: npt.ArrayLike, q: float) -> float:
    """The exact ``q``-quantile (``0 <= q <= 1``) of ``values_s`` by linear interpolation.

    See the module docstring for the definition. NaN values are ignored; with no value left the
    result is NaN.
    """
    return quantiles(values_s, (q,))[0]


def quantiles(values_s: npt.ArrayLike, qs: Sequence[float]) -> tuple[float, ...]:
    """The exact quantiles ``qs`` of ``values_s``, each as in :func:`quantile`, sorting once."""
    for q in qs:
        if not 0.0 <= q <= 1.0:
            raise ConfigError(f"quantile must be between 0 and 1 inclusive, got {q!r}")
    finite = _present_values(values_s)
    if finite.size == 0:
        return tuple(math.nan for _ in qs)
    if not qs:
        return ()
    result = np.quantile(finite, np.asarray(qs, dtype=np.float64), method="linear")
    return tuple(float(v) for v in result)


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Count, mean, spread and tail of a set of latencies; every statistic in seconds.

    ``std`` is the population standard deviation ``sqrt(sum((x - mean)^2) / count)``, so one
    value has ``std == 0``. The percentiles follow the module's definition. ``count`` is the
    number of values that are not NaN; with ``count == 0`` every statistic is NaN.
    """

    count: int
    mean: float
    std: float
    min: float
    max: float
    p50: float
    p90: float
    p95: float
    p99: float
    p99_9: float

    def as_dict(self) -> dict[str, float]:
        """The statistics by key: ``count, mean, std, min, max, p50, p90, p95, p99, p99_9``."""
        return {
            "count": float(self.count),
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "p99": self.p99,
            "p99_9": self.p99_9,
        }


def summarize(values_s: npt.ArrayLike) -> Summary:
    """Summarise latencies (seconds in, seconds out); NaN values are ignored.

    An empty input (or one of NaN only) gives ``count == 0`` and NaN statistics rather than an
    error, because a run in which no request produced a metric is a result, not a bug.
    """
    present = _present_values(values_s)
    if present.size == 0:
        nan = math.nan
        return Summary(
            count=0,
            mean=nan,
            std=nan,
            min=nan,
            max=nan,
            p50=nan,
            p90=nan,
            p95=nan,
            p99=nan,
            p99_9=nan,
        )
    p50, p90, p95, p99, p99_9 = quantiles(present, [q for _, q in SUMMARY_QUANTILES])
    return Summary(
        count=int(present.size),
        mean=float(np.mean(present)),
        std=float(np.std(present)),
        min=float(present.min()),
        max=float(present.max()),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        p99_9=p99_9,
    )


def _present_values(values_s: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The values as a 1-D float array without NaN; raises on infinities or other shapes."""
    array = np.asarray(values_s, dtype=np.float64)
    if array.ndim != 1:
        raise ConfigError(f"expected a one-dimensional sequence of values, got shape {array.shape}")
    present = array[~np.isnan(array)]
    if np.isinf(present).any():
        raise ConfigError(
            "latency values must be finite: record a missing measurement as NaN, "
            "and a timed-out request as failed"
        )
    return present
