"""Max-goodput sweep: the largest offered rate whose SLO attainment stays at the target.

The search doubles the rate from a start value until attainment falls below the target (or a
ceiling is reached), then bisects between the last passing and the first failing rate until
the bracket is narrower than a relative tolerance. Every measured point is kept: together they
are the goodput-vs-rate curve.

The *knee* of that curve is the smallest measured rate whose goodput reaches
``knee_fraction`` (default 95%) of the best goodput seen: beyond it, more offered load buys
little or no more good work. ``capacity_per_replica`` is the max passing rate divided by the
replica count behind the endpoint: goodput per replica in DistServe's sense (requests per
second that one replica serves within the SLO).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slokit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepConfig:
    """How the sweep searches; rates in requests per second."""

    start_rate: float = 1.0
    max_rate: float = 4096.0
    target_attainment: float = 0.99
    relative_tolerance: float = 0.05
    max_points: int = 16
    knee_fraction: float = 0.95
    replicas: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.start_rate <= self.max_rate:
            raise ConfigError(
                f"sweep: need 0 < start rate ({self.start_rate}) <= max rate ({self.max_rate})"
            )
        if not 0 < self.target_attainment <= 1:
            raise ConfigError(
                f"sweep: target attainment must be in (0, 1], got {self.target_attainment}"
            )
        if not 0 < self.relative_tolerance < 1:
            raise ConfigError("sweep: relative tolerance must be in (0, 1), e.g. 0.05")
        if self.max_points < 2:
            raise ConfigError("sweep: allow at least 2 points")
        if not 0 < self.knee_fraction <= 1:
            raise ConfigError("sweep: knee fraction must be in (0, 1]")
        if self.replicas < 1:
            raise ConfigError("sweep: replicas must be >= 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPoint:
    """One measured load level."""

    rate: float
    slo_attainment: float
    goodput: float
    details: dict[str, Any] = field(default_factory=dict)

    def passes(self, target: float) -> bool:
        return not math.isnan(self.slo_attainment) and self.slo_attainment >= target

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "slo_attainment": self.slo_attainment,
            "goodput": self.goodput,
            **self.details,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    """The measured curve (sorted by rate) and what it says."""

    points: tuple[SweepPoint, ...]
    max_rate: float | None
    knee_rate: float | None
    capacity_per_replica: float | None
    target_attainment: float
    hit_ceiling: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "points": [p.to_json() for p in self.points],
            "max_rate": self.max_rate,
            "knee_rate": self.knee_rate,
            "capacity_per_replica": self.capacity_per_replica,
            "target_attainment": self.target_attainment,
            "hit_ceiling": self.hit_ceiling,
        }


Measure = Callable[[float], SweepPoint]


def sweep(measure: Measure, config: SweepConfig) -> SweepResult:
    """Search for the max passing rate with ``measure(rate)``; see the module docstring."""
    points: list[SweepPoint] = []
    target = config.target_attainment

    def probe(rate: float) -> bool:
        point = measure(rate)
        points.append(point)
        return point.passes(target)

    passing: float | None = None
    failing: float | None = None
    rate = config.start_rate
    while len(points) < config.max_points:
        if probe(rate):
            passing = rate
            if rate >= config.max_rate:
                break
            rate = min(rate * 2, config.max_rate)
        else:
            failing = rate
            break
    if passing is None and failing is not None:
        # Even the start rate fails: bisect downwards towards zero for a passing rate.
        low, high = 0.0, failing
    else:
        low, high = passing or 0.0, failing if failing is not None else math.inf
    while (
        math.isfinite(high)
        and len(points) < config.max_points
        and (low == 0.0 or (high - low) / low > config.relative_tolerance)
        and high - low > 1e-9 * high
    ):
        middle = (low + high) / 2 if low > 0 else high / 2
        if probe(middle):
            low = middle
            passing = middle
        else:
            high = middle
    ordered = tuple(sorted(points, key=lambda p: p.rate))
    return SweepResult(
        points=ordered,
        max_rate=passing,
        knee_rate=knee_rate(ordered, config.knee_fraction),
        capacity_per_replica=None if passing is None else passing / config.replicas,
        target_attainment=target,
        hit_ceiling=failing is None and passing is not None and passing >= config.max_rate,
    )


def knee_rate(points: tuple[SweepPoint, ...], fraction: float) -> float | None:
    """Smallest rate whose goodput reaches ``fraction`` of the best goodput measured."""
    if not points:
        return None
    best = max(p.goodput for p in points)
    if best <= 0:
        return None
    return min(p.rate for p in points if p.goodput >= fraction * best)
