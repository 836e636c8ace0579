"""A mergeable streaming quantile sketch with bounded relative error, for live latency metrics."""

from __future__ import annotations

import math

from ddsketch import DDSketch

from slokit.errors import ConfigError

#: The default relative accuracy: quantiles are within 1% of an exact value.
DEFAULT_RELATIVE_ACCURACY = 0.01


class QuantileSketch:
    """Quantiles of a stream of latencies (seconds) in bounded memory; wraps ``ddsketch.DDSketch``.

    **Guarantee** (DDSketch, Masson, Rim and Lee, PVLDB 12(12), 2019). Let the ``n`` values
    added so far be sorted into ``x[0] <= ... <= x[n-1]`` and let ``k = floor(q * (n - 1))``.
    Then for any ``q`` in ``[0, 1]``::

        |quantile(q) - x[k]| <= alpha * x[k]        (alpha = relative_accuracy)

    because each positive value ``x`` is counted in the bucket ``ceil(log_gamma(x))`` with
    ``gamma = (1 + alpha) / (1 - alpha)``, every value of a bucket lies within ``alpha`` of the
    bucket's representative value, and the quantile returns the representative of the bucket
    that holds the value of rank ``k``. Note that ``x[k]`` is the *lower* neighbour of the
    interpolated exact percentile of :mod:`slokit.slo.percentiles`, not that percentile itself.

    Zero is counted exactly (values below about 2.2e-308 count as zero). Negative values, NaN
    and infinities are rejected: they are not latencies. ``count``, ``sum_s`` and ``mean_s``
    are exact. Memory grows with the logarithm of the range of values: about 2 kB covers 1 ms
    to 1 minute at 2% accuracy.

    Not thread-safe; give each thread its own sketch and :meth:`merge` them.
    """

    __slots__ = ("_relative_accuracy", "_sketch")

    def __init__(self, *, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            raise ConfigError(
                f"relative_accuracy must be between 0 and 1 exclusive, got {relative_accuracy!r}"
            )
        self._relative_accuracy = relative_accuracy
        self._sketch = DDSketch(relative_accuracy=relative_accuracy)

    @property
    def relative_accuracy(self) -> float:
        """The bound ``alpha`` on the relative error of a quantile."""
        return self._relative_accuracy

    @property
    def count(self) -> int:
        """Number of values added (including those merged in)."""
        return int(self._sketch.count)

    @property
    def sum_s(self) -> float:
        """Exact sum of the values added, in seconds."""
        return float(self._sketch.sum)

    @property
    def mean_s(self) -> float:
        """Exact mean of the values added, in seconds; NaN when the sketch is empty."""
        count = self.count
        return self.sum_s / count if count else math.nan

    def add(self, value_s: float) -> None:
        """Add one latency ``value_s >= 0`` (seconds)."""
        if not (math.isfinite(value_s) and value_s >= 0.0):
            raise ConfigError(f"a latency must be a finite number of seconds >= 0, got {value_s!r}")
        self._sketch.add(value_s)

    def merge(self, other: QuantileSketch) -> None:
        """Add every value of ``other`` to this sketch, as if they had been added here.

        Both sketches must have the same relative accuracy; ``other`` is left unchanged.
        """
        if other is self:
            raise ConfigError("cannot merge a sketch into itself; merge a copy")
        if other.relative_accuracy != self._relative_accuracy:
            raise ConfigError(
                f"cannot merge a sketch of relative accuracy {other.relative_accuracy} into one "
                f"of {self._relative_accuracy}; build both with the same relative_accuracy"
            )
        self._sketch.merge(other._sketch)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (``0 <= q <= 1``) within the guarantee above; NaN when empty."""
        if not 0.0 <= q <= 1.0:
            raise ConfigError(f"quantile must be between 0 and 1 inclusive, got {q!r}")
        value = self._sketch.get_quantile_value(q)
        return math.nan if value is None else float(value)
