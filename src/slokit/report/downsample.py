"""Fewer points, same picture: the reductions that keep a report small for a million requests.

- :func:`quantile_grid` / :func:`cdf_points`: a CDF drawn through a fixed number of exact
  quantiles, denser in the tail where SLOs live, or through every value when there are few.
- :func:`sample_indices`: a seeded uniform sample of a scatter, plus its largest values so that
  no spike disappears from the picture.
- :func:`rolling_median`: the median of a time-ordered series over a sliding time window.
- :class:`GapSampler`: a bounded, seeded uniform sample of a stream of inter-token gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

#: Share of a CDF's points spent below the 99th percentile; the rest go to the tail.
_BODY_SHARE = 0.8


def quantile_grid(points: int) -> FloatArray:
    """``points`` probabilities from 0 to 1: uniform up to 0.99, then geometric towards 1.

    With ``b = 0.8 * points`` the grid is ``i * 0.99 / b`` for ``i < b``, then
    ``1 - 10^-e`` for ``e`` evenly spaced from 2 to 6, then 1. A uniform grid of 1,000 points
    would put only 10 of them above p99; this one puts about 200 there.
    """
    if points < 3:
        raise ConfigError(f"a CDF needs at least 3 points, got {points}")
    body_points = max(1, int(points * _BODY_SHARE))
    body = np.linspace(0.0, 0.99, body_points, endpoint=False)
    tail = 1.0 - np.logspace(-2.0, -6.0, points - body_points - 1)
    return np.concatenate([body, tail, [1.0]])


def cdf_points(values: FloatArray, *, max_points: int) -> tuple[FloatArray, FloatArray]:
    """The points ``(x, F(x))`` of the empirical CDF of ``values`` (NaN ignored).

    With ``n <= max_points`` values, every sorted value ``x[i]`` with ``F = (i + 1) / n``: the
    exact step function. Otherwise ``x = Q(q)`` (numpy's linear quantile, as in the summary's
    percentiles) for ``q`` in :func:`quantile_grid`, so the curve is exact at every drawn point.
    """
    present = np.sort(values[~np.isnan(values)])
    count = present.size
    if count <= max_points:
        return present, np.arange(1, count + 1, dtype=np.float64) / max(count, 1)
    grid = quantile_grid(max_points)
    return np.quantile(present, grid, method="linear"), grid


def sample_indices(
    values: FloatArray, *, max_points: int, keep_largest: int, rng: np.random.Generator
) -> IndexArray:
    """Sorted indices of at most ``max_points`` of ``values``, always with the largest ones.

    All indices when ``len(values) <= max_points``; otherwise the ``keep_largest`` largest
    values plus a uniform sample without replacement of the others, drawn from ``rng``.
    """
    count = values.size
    if count <= max_points:
        return np.arange(count, dtype=np.intp)
    keep_largest = min(keep_largest, max_points)
    by_size = np.argsort(values, kind="stable")
    largest = by_size[count - keep_largest :]
    others = by_size[: count - keep_largest]
    chosen = rng.choice(others, size=max_points - keep_largest, replace=False)
    return np.sort(np.concatenate([largest, chosen]).astype(np.intp))


def rolling_median(
    times_s: FloatArray, values: FloatArray, *, window_s: float, points: int, min_count: int = 5
) -> tuple[FloatArray, FloatArray]:
    """Median of ``values`` over ``[t - window_s / 2, t + window_s / 2]`` at ``points`` times.

    The times ``t`` are evenly spaced over the span of ``times_s``; a window holding fewer
    than ``min_count`` values gives no point, so sparse edges do not draw noise.
    """
    if window_s <= 0 or points < 1:
        raise ConfigError("a rolling median needs a positive window and at least one point")
    order = np.argsort(times_s, kind="stable")
    times_s, values = times_s[order], values[order]
    if times_s.size == 0:
        return np.empty(0), np.empty(0)
    centres_s = np.linspace(times_s[0], times_s[-1], points)
    starts = np.searchsorted(times_s, centres_s - window_s / 2, side="left")
    ends = np.searchsorted(times_s, centres_s + window_s / 2, side="right")
    kept = (ends - starts) >= min_count
    medians = [float(np.median(values[s:e])) for s, e in zip(starts[kept], ends[kept], strict=True)]
    return centres_s[kept], np.asarray(medians, dtype=np.float64)


@dataclass(slots=True, kw_only=True)
class GapSampler:
    """A uniform sample of at most ``2 * limit`` values out of a stream of any length.

    Every value seen is kept with the same probability ``keep_probability``: it starts at 1
    (the sample is the whole stream, exact), and whenever the sample exceeds ``2 * limit``
    values, each kept value survives a fair coin and the probability halves, so a value kept
    at rate ``p`` and then thinned stays at rate ``p / 2`` like every later one.
    """

    limit: int
    rng: np.random.Generator
    seen: int = 0
    keep_probability: float = 1.0
    _parts: list[FloatArray] = field(default_factory=list)
    _kept: int = 0

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ConfigError(f"the gap sample limit must be at least 1, got {self.limit}")

    def add(self, values: FloatArray) -> None:
        """Offer ``values`` to the sample."""
        self.seen += values.size
        if self.keep_probability < 1.0:
            values = values[self.rng.random(values.size) < self.keep_probability]
        self._parts.append(values)
        self._kept += values.size
        while self._kept > 2 * self.limit:
            kept = np.concatenate(self._parts)
            kept = kept[self.rng.random(kept.size) < 0.5]
            self._parts = [kept]
            self._kept = kept.size
            self.keep_probability /= 2

    def values(self) -> FloatArray:
        """The sampled values, in the order they were seen."""
        return np.concatenate(self._parts) if self._parts else np.empty(0)

    @property
    def exact(self) -> bool:
        """True when the sample is the whole stream."""
        return self.keep_probability == 1.0
