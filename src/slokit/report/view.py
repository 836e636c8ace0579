"""Typed, forgiving reads of a results document: what is there and well-formed gets rendered.

Every part of results.json but ``schema_version`` and ``summary`` is optional, and producers
may add keys, so these readers never fail on a missing or odd value: they return ``None`` (or
NaN inside an array) and let the page say what it could not show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from slokit.report.downsample import FloatArray


def number(value: object) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def text(value: object) -> str | None:
    """``value`` as display text: strings as they are, numbers and booleans as JSON writes them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepView:
    """The points of a sweep by offered rate; NaN where a point lacks a value."""

    rates: FloatArray
    goodput: FloatArray
    attainment: FloatArray
    throughput: FloatArray
    ttft_p99_s: FloatArray
    e2e_p99_s: FloatArray
    max_rate: float | None
    knee_rate: float | None
    target_attainment: float | None


def read_sweep(results: Mapping[str, Any]) -> SweepView | None:
    """The sweep, or ``None`` without one point that has both a rate and a goodput."""
    sweep = mapping(results.get("sweep"))
    raw_points = sweep.get("points")
    points = [
        mapping(p)
        for p in (raw_points if isinstance(raw_points, list) else [])
        if number(mapping(p).get("rate")) is not None
        and number(mapping(p).get("goodput")) is not None
    ]
    if not points:
        return None
    points.sort(key=lambda p: float(p["rate"]))

    def column(*keys: str) -> FloatArray:
        values = []
        for point in points:
            value: object = point
            for key in keys:
                value = mapping(value).get(key)
            found = number(value)
            values.append(math.nan if found is None else found)
        return np.array(values, dtype=np.float64)

    return SweepView(
        rates=column("rate"),
        goodput=column("goodput"),
        attainment=column("slo_attainment"),
        throughput=column("request_throughput"),
        ttft_p99_s=column("ttft_s", "p99"),
        e2e_p99_s=column("e2e_s", "p99"),
        max_rate=number(sweep.get("max_rate")),
        knee_rate=number(sweep.get("knee_rate")),
        target_attainment=number(sweep.get("target_attainment")),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineView:
    """The replica count at each time of a simulated run."""

    times_s: FloatArray
    replicas: FloatArray


def read_timeline(results: Mapping[str, Any]) -> TimelineView | None:
    """The replica timeline, or ``None`` without a well-formed one (equal-length number lists)."""
    timeline = mapping(results.get("timeline"))
    times_s, replicas = timeline.get("t_s"), timeline.get("replicas")
    if not (isinstance(times_s, list) and isinstance(replicas, list)):
        return None
    if not times_s or len(times_s) != len(replicas):
        return None
    pairs = [(number(t), number(r)) for t, r in zip(times_s, replicas, strict=True)]
    if any(t is None or r is None for t, r in pairs):
        return None
    return TimelineView(
        times_s=np.array([t for t, _ in pairs], dtype=np.float64),
        replicas=np.array([r for _, r in pairs], dtype=np.float64),
    )
