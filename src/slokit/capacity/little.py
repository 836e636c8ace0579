"""Little's law, ``L = lambda * W``: any two of the three give the third.

It holds for any stable system in steady state, whatever the arrival process, service-time
distribution, number of servers or queue discipline: ``L`` is the mean number of requests in
the system, ``lambda`` the mean arrival (= throughput) rate and ``W`` the mean time a request
spends in the system. It applies as well to the queue alone (``Lq = lambda * Wq``) or to the
servers alone (``busy servers = lambda * service time``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slokit.errors import ConfigError

#: Relative disagreement tolerated when all three quantities are given.
DEFAULT_REL_TOL = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class LittlesLaw:
    """A consistent triple: ``mean_in_system = arrival_rate_per_s * mean_time_in_system_s``."""

    mean_in_system: float
    arrival_rate_per_s: float
    mean_time_in_system_s: float


def solve_littles_law(
    *,
    mean_in_system: float | None = None,
    arrival_rate_per_s: float | None = None,
    mean_time_in_system_s: float | None = None,
    rel_tol: float = DEFAULT_REL_TOL,
) -> LittlesLaw:
    """Complete ``L = lambda * W`` from two of its quantities (or check all three).

    ``L = lambda * W``, ``lambda = L / W``, ``W = L / lambda``. Every value given must be finite
    and >= 0. Raises :class:`ConfigError` when fewer than two are given, when the three given
    disagree by more than ``rel_tol``, or when the missing one is undetermined (``L = 0`` with
    ``lambda = 0`` says nothing of ``W``) or impossible (``L > 0`` with ``lambda = 0``).
    """
    given = {
        "mean_in_system": mean_in_system,
        "arrival_rate_per_s": arrival_rate_per_s,
        "mean_time_in_system_s": mean_time_in_system_s,
    }
    for name, value in given.items():
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    if arrival_rate_per_s is not None and mean_time_in_system_s is not None:
        product = arrival_rate_per_s * mean_time_in_system_s
        if mean_in_system is not None and not math.isclose(
            mean_in_system, product, rel_tol=rel_tol, abs_tol=0.0
        ):
            raise ConfigError(
                f"inconsistent with Little's law: mean_in_system {mean_in_system:.6g} != "
                f"arrival_rate_per_s x mean_time_in_system_s = {product:.6g}; "
                "give two of the three"
            )
        return LittlesLaw(
            mean_in_system=product if mean_in_system is None else mean_in_system,
            arrival_rate_per_s=arrival_rate_per_s,
            mean_time_in_system_s=mean_time_in_system_s,
        )
    if mean_in_system is not None and mean_time_in_system_s is not None:
        return LittlesLaw(
            mean_in_system=mean_in_system,
            arrival_rate_per_s=_divide(mean_in_system, mean_time_in_system_s, "arrival_rate_per_s"),
            mean_time_in_system_s=mean_time_in_system_s,
        )
    if mean_in_system is not None and arrival_rate_per_s is not None:
        return LittlesLaw(
            mean_in_system=mean_in_system,
            arrival_rate_per_s=arrival_rate_per_s,
            mean_time_in_system_s=_divide(
                mean_in_system, arrival_rate_per_s, "mean_time_in_system_s"
            ),
        )
    missing = " and ".join(name for name, value in given.items() if value is None)
    raise ConfigError(
        "Little's law needs two of mean_in_system, arrival_rate_per_s and "
        f"mean_time_in_system_s; {missing} are missing"
    )


def _divide(numerator: float, denominator: float, solving_for: str) -> float:
    if denominator > 0:
        return numerator / denominator
    if numerator > 0:
        raise ConfigError(
            f"cannot solve for {solving_for}: a positive mean_in_system needs a positive "
            "arrival rate and time in system"
        )
    raise ConfigError(
        f"cannot solve for {solving_for}: with both other values 0 it is undetermined"
    )
