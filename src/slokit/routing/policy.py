"""From each model's predicted correctness and price to a choice, and the calibrated trade-off.

Every query goes to the model with the highest ``p_m - tradeoff * price_m / top_price``, where
``p_m`` is the predicted chance that model ``m`` answers correctly. So the trade-off is the
chance of a correct answer the router will give up to save the top model's price: a pricier
model is chosen only when its predicted gain in correctness is at least
``tradeoff * (price difference) / top_price``. With two models, this is a threshold on the
difficulty score ``p_strong - p_weak``. Zero sends every query to the model predicted best;
a large value sends every query to the cheapest.

Users rarely know a trade-off; they know a target: the share of calls the priciest model may
take, or a mean price per query. :func:`calibrate` finds the smallest trade-off that meets it
on queries the light model had not seen, so the share or budget holds on traffic like those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from slokit.errors import ConfigError
from slokit.routing.predictor import Probabilities

_BISECTION_STEPS = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrice:
    """A model and its price per query in any one unit (e.g. dollars per million tokens)."""

    name: str
    price: float

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a model name must not be empty")
        if not np.isfinite(self.price) or self.price <= 0:
            raise ConfigError(f"price of {self.name!r} must be > 0, got {self.price}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StrongShare:
    """At most this share of queries goes to the priciest model."""

    share: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ConfigError(f"strong share must be in [0, 1], got {self.share}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CostBudget:
    """The mean price per query (in the prices' unit) stays at or below this."""

    mean_price: float

    def __post_init__(self) -> None:
        if not np.isfinite(self.mean_price) or self.mean_price <= 0:
            raise ConfigError(f"cost budget must be > 0, got {self.mean_price}")


Target = StrongShare | CostBudget


def choose(
    probabilities: Probabilities, prices: NDArray[np.float64], tradeoff: float
) -> NDArray[np.intp]:
    """Index of the chosen model per query; ties go to the cheaper model."""
    relative = prices / prices.max()
    utility = probabilities - tradeoff * relative
    # Columns sorted by price, so argmax (first maximum) breaks ties towards the cheaper one.
    by_price = np.argsort(prices, kind="stable")
    best: NDArray[np.intp] = by_price[np.argmax(utility[:, by_price], axis=1)]
    return best


def calibrate(probabilities: Probabilities, prices: NDArray[np.float64], target: Target) -> float:
    """The smallest trade-off at which ``probabilities`` meet ``target``.

    The chosen model's price and whether it is the priciest both fall as the trade-off grows
    (a linear choice: raising the weight on price never picks a pricier model), so bisection
    finds the boundary. No gain in probability exceeds 1, so a trade-off of one over the
    smallest relative price step always sends everything to the cheapest model.
    """
    if len(probabilities) == 0:
        raise ConfigError("calibrating a routing threshold needs at least one query")
    if isinstance(target, CostBudget) and target.mean_price < prices.min():
        raise ConfigError(
            f"cost budget {target.mean_price:g} is below the cheapest model's price "
            f"{prices.min():g}: no routing can meet it"
        )
    priciest = int(np.argmax(prices))

    def meets(tradeoff: float) -> bool:
        chosen = choose(probabilities, prices, tradeoff)
        if isinstance(target, StrongShare):
            return float(np.mean(chosen == priciest)) <= target.share
        return float(np.mean(prices[chosen])) <= target.mean_price

    steps = np.diff(np.unique(prices / prices.max()))
    low = 0.0
    high = 1.0 + (1.0 / float(steps.min()) if steps.size else 0.0)
    if meets(low):
        return low
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if meets(middle):
            high = middle
        else:
            low = middle
    return high
