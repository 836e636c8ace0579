"""Distributions of the wait and of the time in system (wait + service): tails and quantiles.

Wait model. A request waits with probability ``p``; given that it waits, the wait is
exponential with mean ``Wq / p`` (``Wq`` the mean wait over all requests)::

    P(W > t) = p * exp(-theta * t),    theta = p / Wq
    quantile_q(W) = 0                              if q <= 1 - p
                  = ln(p / (1 - q)) / theta        otherwise

This is exact for M/M/c (``p`` = Erlang C, ``theta = c*mu - lambda``) and M/M/1; for M/G/1 and
G/G/c it is the usual approximation that keeps the model's ``p`` and mean wait and assumes an
exponential tail.

Service model, from the mean ``S`` and the coefficient of variation ``cv`` (std / mean):
exponential for ``cv = 1``, a constant for ``cv = 0`` (and below 1e-6), otherwise a gamma
distribution with shape ``k = 1 / cv^2`` and scale ``S * cv^2`` (the two-moment fit: only the
mean and CV are known).

Time in system ``T = W + S``, with a request's own service independent of its wait (FIFO: the
wait is settled by the requests ahead)::

    P(T > t) = (1 - p) * Sbar(t) + p * P(E + S > t),          E ~ Exponential(theta)
    P(E + S > t) = exp(-theta t) + int_0^t theta exp(-theta w) Sbar(t - w) dw

For exponential service (rate ``mu``) the integral has the closed form, with
``r1 = min(theta, mu)``, ``r2 = max(theta, mu)`` and ``h(x) = (1 - exp(-x)) / x``::

    P(E + S > t) = exp(-r1 t) * (1 + r1 t h((r2 - r1) t))

For a constant service time, ``quantile_q(T) = S + quantile_q(W)``.
"""

from __future__ import annotations

import math
import sys

from scipy import integrate, optimize, special

from slokit.errors import ConfigError

# exp(-60) ~ 1e-26: the exponential density beyond it adds nothing a float can hold.
_EXPONENTIAL_CUTOFF = 60.0
_INTEGRAL_ABS_TOL = 1e-12
_INTEGRAL_REL_TOL = 1e-10
_QUANTILE_REL_TOL = 1e-10
# A gamma with a CV this small is a constant to float precision, and 1 / cv^2 would overflow.
_CONSTANT_BELOW_CV = 1e-6


def wait_survival(t_s: float, *, p_wait: float, mean_wait_s: float) -> float:
    """``P(W > t) = p * exp(-(p / Wq) t)`` for ``t >= 0`` (1 for ``t < 0``)."""
    if t_s < 0:
        return 1.0
    if p_wait <= 0 or mean_wait_s <= 0:
        return 0.0
    return p_wait * math.exp(-p_wait / mean_wait_s * t_s)


def wait_quantile_s(quantile: float, *, p_wait: float, mean_wait_s: float) -> float:
    """``quantile_q(W) = (Wq / p) ln(p / (1 - q))`` when ``q > 1 - p``, else 0."""
    check_quantile(quantile)
    if p_wait <= 0 or mean_wait_s <= 0 or quantile <= 1.0 - p_wait:
        return 0.0
    return mean_wait_s / p_wait * math.log(p_wait / (1.0 - quantile))


def service_survival(t_s: float, *, service_time_s: float, service_cv: float) -> float:
    """``P(S > t)`` for the service model in the module docstring."""
    if t_s < 0:
        return 1.0
    if service_cv < _CONSTANT_BELOW_CV:
        return 1.0 if t_s < service_time_s else 0.0
    if service_cv == 1:
        return math.exp(-t_s / service_time_s)
    shape = 1.0 / service_cv**2
    scale_s = service_time_s * service_cv**2
    return float(special.gammaincc(shape, t_s / scale_s))


def service_quantile_s(quantile: float, *, service_time_s: float, service_cv: float) -> float:
    """The ``quantile`` of the service time for the service model in the module docstring."""
    check_quantile(quantile)
    if service_cv < _CONSTANT_BELOW_CV:
        return service_time_s
    if service_cv == 1:
        return -service_time_s * math.log1p(-quantile)
    shape = 1.0 / service_cv**2
    scale_s = service_time_s * service_cv**2
    return float(special.gammainccinv(shape, 1.0 - quantile)) * scale_s


def time_in_system_survival(
    t_s: float, *, p_wait: float, mean_wait_s: float, service_time_s: float, service_cv: float
) -> float:
    """``P(T > t) = (1 - p) Sbar(t) + p P(E + S > t)``; see the module docstring."""
    service = {"service_time_s": service_time_s, "service_cv": service_cv}
    if t_s < 0:
        return 1.0
    if p_wait <= 0 or mean_wait_s <= 0:
        return service_survival(t_s, **service)
    if service_cv < _CONSTANT_BELOW_CV:
        return wait_survival(t_s - service_time_s, p_wait=p_wait, mean_wait_s=mean_wait_s)
    theta_per_s = p_wait / mean_wait_s
    if service_cv == 1:
        waited = _exponential_pair_survival(t_s, theta_per_s, 1.0 / service_time_s)
    else:
        waited = _exponential_plus_service_survival(t_s, theta_per_s, service_time_s, service_cv)
    return (1.0 - p_wait) * service_survival(t_s, **service) + p_wait * waited


def time_in_system_quantile_s(
    quantile: float,
    *,
    p_wait: float,
    mean_wait_s: float,
    service_time_s: float,
    service_cv: float,
) -> float:
    """The ``quantile`` of the time in system ``T = W + S``, solving ``P(T > t) = 1 - q``.

    Closed form when the wait is always 0 (the service quantile) or the service time is
    constant (``S`` plus the wait quantile); otherwise Brent's method on the survival function
    to a relative tolerance of 1e-10. The bracket: below, the larger of the wait's and the
    service's own ``q`` quantiles (``T`` exceeds both parts); above, ``1.5 (w + s)`` where ``w``
    and ``s`` are their quantiles at ``1 - (1 - q) / 2`` (the union bound puts the answer
    below ``w + s``).
    """
    check_quantile(quantile)
    if service_cv < _CONSTANT_BELOW_CV:
        return service_time_s + wait_quantile_s(quantile, p_wait=p_wait, mean_wait_s=mean_wait_s)
    if p_wait <= 0 or mean_wait_s <= 0:
        return service_quantile_s(quantile, service_time_s=service_time_s, service_cv=service_cv)
    wait_part_s = wait_quantile_s(quantile, p_wait=p_wait, mean_wait_s=mean_wait_s)
    service_part_s = service_quantile_s(
        quantile, service_time_s=service_time_s, service_cv=service_cv
    )
    half_tail = 1.0 - (1.0 - quantile) / 2.0
    upper_s = 1.5 * (
        wait_quantile_s(half_tail, p_wait=p_wait, mean_wait_s=mean_wait_s)
        + service_quantile_s(half_tail, service_time_s=service_time_s, service_cv=service_cv)
    )
    # T >= W and T >= S, so T's quantile is at least each part's: a tight lower bracket that
    # also scales the tolerance to the answer, however small.
    lower_s = max(wait_part_s, service_part_s)
    target = 1.0 - quantile

    def excess(t_s: float) -> float:
        survival = time_in_system_survival(
            t_s,
            p_wait=p_wait,
            mean_wait_s=mean_wait_s,
            service_time_s=service_time_s,
            service_cv=service_cv,
        )
        return survival - target

    if excess(lower_s) <= 0:
        return lower_s
    root = optimize.brentq(
        excess,
        lower_s,
        upper_s,
        xtol=max(_QUANTILE_REL_TOL * lower_s, sys.float_info.min),
        rtol=_QUANTILE_REL_TOL,
    )
    return float(root)


def check_quantile(quantile: float) -> None:
    """Raise :class:`ConfigError` unless ``0 < quantile < 1``."""
    if not 0.0 < quantile < 1.0:
        raise ConfigError(f"quantile must be between 0 and 1 exclusive, got {quantile!r}")


def _exponential_pair_survival(t_s: float, rate_a_per_s: float, rate_b_per_s: float) -> float:
    """``P(E1 + E2 > t)`` for independent exponentials, stable when the rates are close."""
    slow, fast = sorted((rate_a_per_s, rate_b_per_s))
    gap = (fast - slow) * t_s
    # h(x) = (1 - e^-x) / x tends to 1 as x -> 0; expm1 keeps it exact there.
    ratio = 1.0 if gap == 0 else -math.expm1(-gap) / gap
    return math.exp(-slow * t_s) * (1.0 + slow * t_s * ratio)


def _exponential_plus_service_survival(
    t_s: float, theta_per_s: float, service_time_s: float, service_cv: float
) -> float:
    """``P(E + S > t) = exp(-theta t) + int_0^{theta t} exp(-u) Sbar(t - u / theta) du``.

    The substitution ``u = theta w`` puts the exponential's mass near ``u = 0`` whatever
    ``theta``, so the quadrature cannot step over it.
    """
    upper = min(theta_per_s * t_s, _EXPONENTIAL_CUTOFF)

    def integrand(u: float) -> float:
        remaining_s = t_s - u / theta_per_s
        return math.exp(-u) * service_survival(
            remaining_s, service_time_s=service_time_s, service_cv=service_cv
        )

    integral, _error = integrate.quad(
        integrand, 0.0, upper, epsabs=_INTEGRAL_ABS_TOL, epsrel=_INTEGRAL_REL_TOL, limit=200
    )
    return min(1.0, math.exp(-theta_per_s * t_s) + float(integral))
