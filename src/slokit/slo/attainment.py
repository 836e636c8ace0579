"""SLO attainment: the share of good requests, with a Wilson score confidence interval."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from statistics import NormalDist

from slokit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Attainment:
    """The share of good requests ``point = good / total`` and its confidence interval.

    ``low <= point <= high`` with ``0 <= low`` and ``high <= 1``. With ``total == 0`` nothing
    is known: ``point`` is NaN and the interval is the whole ``[0, 1]``.
    """

    point: float
    low: float
    high: float
    good: int
    total: int
    confidence: float


def attainment(good: int, total: int, *, confidence: float = 0.95) -> Attainment:
    """Attainment of ``good`` out of ``total`` requests with a Wilson score interval.

    With ``p = good / total``, ``n = total`` and ``z`` the standard normal quantile at
    ``(1 + confidence) / 2`` (1.959964 for 95%)::

        centre     = (p + z^2 / (2n)) / (1 + z^2 / n)
        half_width = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))
        interval   = [centre - half_width, centre + half_width]

    The interval holds the proportions ``pi`` whose score test does not reject ``p``, i.e. the
    roots of ``(p - pi)^2 = z^2 pi (1 - pi) / n``. Unlike the normal (Wald) interval it stays
    inside ``[0, 1]`` and does not collapse to a point at 0% or 100% attainment, which is where
    SLOs live (E. B. Wilson, JASA 22(158), 1927).
    """
    good = _count("good", good)
    total = _count("total", total)
    if good > total:
        raise ConfigError(f"good ({good}) cannot exceed total ({total}) requests")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be between 0 and 1 exclusive, got {confidence!r}")
    if total == 0:
        return Attainment(point=math.nan, low=0.0, high=1.0, good=0, total=0, confidence=confidence)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    point = good / total
    z2_n = z * z / total
    centre = (point + z2_n / 2.0) / (1.0 + z2_n)
    half_width = z / (1.0 + z2_n) * math.sqrt(point * (1.0 - point) / total + z2_n / (4.0 * total))
    # Rounding can push a bound a hair past the point estimate or out of [0, 1] at 0% and 100%.
    low = min(max(centre - half_width, 0.0), point)
    high = max(min(centre + half_width, 1.0), point)
    return Attainment(
        point=point, low=low, high=high, good=good, total=total, confidence=confidence
    )


def _count(name: str, value: int) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a count of requests, got the boolean {value}")
    try:
        count = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name} must be a whole number of requests, got {value!r}") from None
    if count < 0:
        raise ConfigError(f"{name} must be >= 0, got {count}")
    return count
