"""Steady-state queueing models: M/M/1, M/M/c (Erlang C), M/G/1 and G/G/c (Allen-Cunneen).

Notation: ``lambda`` arrival rate (requests/s), ``S = 1 / mu`` mean service time (s), ``c``
servers (replicas), ``a = lambda * S`` offered load (erlangs, the mean number of busy servers),
``rho = a / c`` utilisation, ``ca`` and ``cs`` the coefficients of variation (std / mean) of the
inter-arrival and service times. Every model gives ``p`` = P(wait > 0) and ``Wq`` = mean wait;
the rest follows for all of them::

    Lq = lambda * Wq         (Little's law on the queue)
    L  = Lq + a              (requests waiting + requests in service)
    W  = Wq + S              (mean time in system)

A model asked about ``rho >= 1`` raises :class:`UnstableSystemError`: the queue then grows
without bound and no finite figure describes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slokit.capacity.erlang import erlang_c
from slokit.capacity.sojourn import time_in_system_quantile_s, wait_quantile_s
from slokit.errors import ConfigError, UnstableSystemError

MODEL_MM1 = "M/M/1"
MODEL_MMC = "M/M/c"
MODEL_MG1 = "M/G/1 (Pollaczek-Khinchine)"
MODEL_GGC = "G/G/c (Allen-Cunneen)"

#: The percentile reported in :attr:`SteadyState.wait_p99_s`.
_P99 = 0.99


@dataclass(frozen=True, slots=True, kw_only=True)
class SteadyState:
    """The steady-state figures of one queueing model at one operating point.

    ``p_wait`` is P(wait > 0); waits are described as in :mod:`slokit.capacity.sojourn` (exact
    for M/M/1 and M/M/c, an exponential-tail approximation for M/G/1 and G/G/c).
    """

    model: str
    replicas: int
    arrival_rate_per_s: float
    service_time_s: float
    arrival_cv: float
    service_cv: float
    utilization: float
    p_wait: float
    mean_wait_s: float
    wait_p99_s: float
    mean_in_queue: float
    mean_in_system: float
    mean_time_in_system_s: float

    def wait_quantile_s(self, quantile: float) -> float:
        """The ``quantile`` (in (0, 1)) of the wait before service starts."""
        return wait_quantile_s(quantile, p_wait=self.p_wait, mean_wait_s=self.mean_wait_s)

    def time_in_system_quantile_s(self, quantile: float) -> float:
        """The ``quantile`` (in (0, 1)) of the time in system, wait + service."""
        return time_in_system_quantile_s(
            quantile,
            p_wait=self.p_wait,
            mean_wait_s=self.mean_wait_s,
            service_time_s=self.service_time_s,
            service_cv=self.service_cv,
        )


def mm1(arrival_rate_per_s: float, service_time_s: float) -> SteadyState:
    """M/M/1: Poisson arrivals, exponential service, one server.

    ``rho = lambda S``, ``p = rho``, ``L = rho / (1 - rho)``, ``Wq = rho S / (1 - rho)``,
    ``W = S / (1 - rho)``, ``P(W > t) = rho exp(-(mu - lambda) t)``.
    """
    # One server: the utilisation is the offered load.
    utilization = _offered_load(arrival_rate_per_s, service_time_s)
    _require_stable(MODEL_MM1, 1, arrival_rate_per_s, service_time_s)
    return _steady_state(
        model=MODEL_MM1,
        replicas=1,
        arrival_rate_per_s=arrival_rate_per_s,
        service_time_s=service_time_s,
        arrival_cv=1.0,
        service_cv=1.0,
        p_wait=utilization,
        mean_wait_s=utilization * service_time_s / (1.0 - utilization),
    )


def mmc(arrival_rate_per_s: float, service_time_s: float, replicas: int) -> SteadyState:
    """M/M/c: Poisson arrivals, exponential service, ``c`` servers sharing one FIFO queue.

    ``p = C(c, a)`` (Erlang C), ``Wq = C / (c mu - lambda)``, ``Lq = C rho / (1 - rho)``,
    ``P(W > t) = C exp(-(c mu - lambda) t)``.
    """
    _check_replicas(replicas)
    offered_load = _offered_load(arrival_rate_per_s, service_time_s)
    _require_stable(MODEL_MMC, replicas, arrival_rate_per_s, service_time_s)
    p_wait = erlang_c(replicas, offered_load)
    return _steady_state(
        model=MODEL_MMC,
        replicas=replicas,
        arrival_rate_per_s=arrival_rate_per_s,
        service_time_s=service_time_s,
        arrival_cv=1.0,
        service_cv=1.0,
        p_wait=p_wait,
        mean_wait_s=p_wait * service_time_s / (replicas - offered_load),
    )


def mg1(arrival_rate_per_s: float, service_time_s: float, *, service_cv: float) -> SteadyState:
    """M/G/1, Pollaczek-Khinchine: Poisson arrivals, any service-time distribution, one server.

    ``Wq = rho S (1 + cs^2) / (2 (1 - rho))``, exact for the mean; ``p = rho`` (exact, by PASTA).
    Wait percentiles use the exponential-tail approximation (:mod:`slokit.capacity.sojourn`).
    """
    _check_cv(service_cv, "service_cv")
    # One server: the utilisation is the offered load.
    utilization = _offered_load(arrival_rate_per_s, service_time_s)
    _require_stable(MODEL_MG1, 1, arrival_rate_per_s, service_time_s)
    return _steady_state(
        model=MODEL_MG1,
        replicas=1,
        arrival_rate_per_s=arrival_rate_per_s,
        service_time_s=service_time_s,
        arrival_cv=1.0,
        service_cv=service_cv,
        p_wait=utilization,
        mean_wait_s=(
            utilization * service_time_s * (1.0 + service_cv**2) / (2.0 * (1.0 - utilization))
        ),
    )


def ggc(
    arrival_rate_per_s: float,
    service_time_s: float,
    replicas: int,
    *,
    arrival_cv: float = 1.0,
    service_cv: float = 1.0,
) -> SteadyState:
    """G/G/c by the Allen-Cunneen approximation (an approximation, not an exact result).

    ``Wq ~= Wq(M/M/c) * (ca^2 + cs^2) / 2`` and ``p ~= C(c, a)`` (Erlang C). With
    ``ca = cs = 1`` it is M/M/c exactly; with ``c = 1`` it is Kingman's G/G/1 formula, and with
    ``c = 1, ca = 1`` the exact Pollaczek-Khinchine mean. Wait percentiles keep ``p`` and scale
    the exponential tail so its mean is ``Wq``: ``P(W > t) ~= p exp(-p t / Wq)``. It is good for
    moderate-to-heavy load and CVs near 1; it is rough for very bursty arrivals at light load.
    """
    _check_replicas(replicas)
    _check_cv(arrival_cv, "arrival_cv")
    _check_cv(service_cv, "service_cv")
    offered_load = _offered_load(arrival_rate_per_s, service_time_s)
    _require_stable(MODEL_GGC, replicas, arrival_rate_per_s, service_time_s)
    p_wait = erlang_c(replicas, offered_load)
    markov_wait_s = p_wait * service_time_s / (replicas - offered_load)
    return _steady_state(
        model=MODEL_GGC,
        replicas=replicas,
        arrival_rate_per_s=arrival_rate_per_s,
        service_time_s=service_time_s,
        arrival_cv=arrival_cv,
        service_cv=service_cv,
        p_wait=p_wait,
        mean_wait_s=markov_wait_s * (arrival_cv**2 + service_cv**2) / 2.0,
    )


def model_name(*, service_cv: float | None = None, arrival_cv: float | None = None) -> str:
    """The model :func:`steady_state` uses: M/M/c with neither CV given, G/G/c otherwise."""
    return MODEL_MMC if service_cv is None and arrival_cv is None else MODEL_GGC


def steady_state(
    arrival_rate_per_s: float,
    service_time_s: float,
    replicas: int,
    *,
    service_cv: float | None = None,
    arrival_cv: float | None = None,
) -> SteadyState:
    """M/M/c when neither CV is given, else G/G/c (Allen-Cunneen) with a missing CV taken as 1.

    A CV of 1 is what Poisson arrivals and exponential service times have.
    """
    if model_name(service_cv=service_cv, arrival_cv=arrival_cv) == MODEL_MMC:
        return mmc(arrival_rate_per_s, service_time_s, replicas)
    return ggc(
        arrival_rate_per_s,
        service_time_s,
        replicas,
        arrival_cv=1.0 if arrival_cv is None else arrival_cv,
        service_cv=1.0 if service_cv is None else service_cv,
    )


def _steady_state(
    *,
    model: str,
    replicas: int,
    arrival_rate_per_s: float,
    service_time_s: float,
    arrival_cv: float,
    service_cv: float,
    p_wait: float,
    mean_wait_s: float,
) -> SteadyState:
    offered_load = arrival_rate_per_s * service_time_s
    mean_in_queue = arrival_rate_per_s * mean_wait_s
    return SteadyState(
        model=model,
        replicas=replicas,
        # Integers passed in (rate 3, 1 s) are reported as the floats they stand for.
        arrival_rate_per_s=float(arrival_rate_per_s),
        service_time_s=float(service_time_s),
        arrival_cv=float(arrival_cv),
        service_cv=float(service_cv),
        utilization=offered_load / replicas,
        p_wait=p_wait,
        mean_wait_s=mean_wait_s,
        wait_p99_s=wait_quantile_s(_P99, p_wait=p_wait, mean_wait_s=mean_wait_s),
        mean_in_queue=mean_in_queue,
        mean_in_system=mean_in_queue + offered_load,
        mean_time_in_system_s=mean_wait_s + service_time_s,
    )


def _offered_load(arrival_rate_per_s: float, service_time_s: float) -> float:
    if not math.isfinite(arrival_rate_per_s) or arrival_rate_per_s < 0:
        raise ConfigError(
            f"arrival_rate_per_s must be a finite number >= 0, got {arrival_rate_per_s!r}"
        )
    if not math.isfinite(service_time_s) or service_time_s <= 0:
        raise ConfigError(f"service_time_s must be a finite number > 0, got {service_time_s!r}")
    offered_load = arrival_rate_per_s * service_time_s
    if not math.isfinite(offered_load):
        raise ConfigError(
            f"offered load {arrival_rate_per_s!r}/s x {service_time_s!r} s overflows a float"
        )
    return offered_load


def _require_stable(
    model: str, replicas: int, arrival_rate_per_s: float, service_time_s: float
) -> None:
    offered_load = arrival_rate_per_s * service_time_s
    utilization = offered_load / replicas
    if utilization >= 1.0:
        raise UnstableSystemError(
            utilization,
            f"{model} with {replicas} replica{'s' if replicas != 1 else ''}: "
            f"{arrival_rate_per_s:.6g} req/s x {service_time_s:.6g} s keeps "
            f"{offered_load:.6g} replicas busy on average",
        )


def _check_replicas(replicas: int) -> None:
    # bool is an int subclass; replicas=True is a caller's mistake, not one replica.
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ConfigError(f"replicas must be an integer >= 1, got {replicas!r}")


def _check_cv(value: float, name: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{name} (coefficient of variation) must be a finite number >= 0, got {value!r}"
        )
