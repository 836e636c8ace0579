"""Request shapes: distributions of prompt and output token counts, integers >= 1.

Every sampler draws real numbers, rounds them to the nearest integer and clamps them to
``[min_tokens, max_tokens]`` (``min_tokens`` >= 1, ``max_tokens`` ``None`` for no upper bound),
so that a server is never asked for an empty prompt or zero output tokens. Clamping piles the
clipped mass onto the bounds; it does not renormalise, so a clamp that cuts deep into a
distribution moves its mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError
from slokit.workload.seeding import RandomSource, as_generator

TokenArray = npt.NDArray[np.int64]


class TokenSampler(Protocol):
    """A distribution of token counts that can be drawn from."""

    def sample(self, rng: RandomSource, count: int) -> TokenArray:
        """``count`` token counts, each an integer >= 1."""
        ...

    @property
    def spec(self) -> str:
        """The text that :func:`slokit.workload.parse_tokens` reads back into this sampler."""
        ...


def format_number(value: float) -> str:
    """Shortest text that parses back to exactly ``value`` (``5.0`` -> ``5``)."""
    text = repr(float(value))
    return text.removesuffix(".0")


def _check_count(count: int) -> None:
    if count < 0:
        raise ConfigError(f"cannot sample a negative number of token counts ({count})")


def _check_clamps(kind: str, min_tokens: int, max_tokens: int | None) -> None:
    if min_tokens < 1:
        raise ConfigError(f"{kind}: min_tokens must be >= 1, got {min_tokens}")
    if max_tokens is not None and max_tokens < min_tokens:
        raise ConfigError(f"{kind}: max_tokens ({max_tokens}) must be >= min_tokens ({min_tokens})")


def _clamp_suffix(min_tokens: int, max_tokens: int | None) -> str:
    parts = [f",min={min_tokens}"] if min_tokens != 1 else []
    if max_tokens is not None:
        parts.append(f",max={max_tokens}")
    return "".join(parts)


def clamp_tokens(
    values: npt.NDArray[np.floating] | TokenArray, min_tokens: int, max_tokens: int | None
) -> TokenArray:
    """Round ``values`` to integers and clamp them to ``[min_tokens, max_tokens]``."""
    rounded = np.rint(values) if np.issubdtype(values.dtype, np.floating) else values
    upper = np.inf if max_tokens is None else max_tokens
    return np.clip(rounded, min_tokens, upper).astype(np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedTokens:
    """Always ``tokens``."""

    tokens: int

    def __post_init__(self) -> None:
        if self.tokens < 1:
            raise ConfigError(f"fixed: tokens must be >= 1, got {self.tokens}")

    def sample(self, rng: RandomSource, count: int) -> TokenArray:
        del rng  # a fixed count draws nothing
        _check_count(count)
        return np.full(count, self.tokens, dtype=np.int64)

    @property
    def spec(self) -> str:
        return f"fixed:{self.tokens}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UniformTokens:
    """Integers drawn uniformly from ``low_tokens`` to ``high_tokens``, both included."""

    low_tokens: int
    high_tokens: int
    min_tokens: int = 1
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _check_clamps("uniform", self.min_tokens, self.max_tokens)
        if not 1 <= self.low_tokens <= self.high_tokens:
            raise ConfigError(
                f"uniform: need 1 <= low <= high, got {self.low_tokens}-{self.high_tokens}"
            )

    def sample(self, rng: RandomSource, count: int) -> TokenArray:
        _check_count(count)
        drawn = as_generator(rng).integers(
            self.low_tokens, self.high_tokens, size=count, endpoint=True, dtype=np.int64
        )
        return clamp_tokens(drawn, self.min_tokens, self.max_tokens)

    @property
    def spec(self) -> str:
        suffix = _clamp_suffix(self.min_tokens, self.max_tokens)
        return f"uniform:{self.low_tokens}-{self.high_tokens}{suffix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LognormalTokens:
    """A lognormal distribution, given by its mean and CV or by its median and sigma.

    Give exactly one pair. With mean ``m`` and coefficient of variation ``c`` (standard deviation
    over mean) of the token counts themselves, the underlying normal has
    ``sigma**2 = ln(1 + c**2)`` and ``mu = ln(m) - sigma**2 / 2``. With median ``M`` and
    ``sigma`` (the standard deviation of ``ln(tokens)``), ``mu = ln(M)``. The mean and CV are
    those before rounding and clamping.
    """

    mean_tokens: float | None = None
    cv: float | None = None
    median_tokens: float | None = None
    sigma: float | None = None
    min_tokens: int = 1
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _check_clamps("lognormal", self.min_tokens, self.max_tokens)
        by_mean = self.mean_tokens is not None and self.cv is not None
        by_median = self.median_tokens is not None and self.sigma is not None
        given = [self.mean_tokens, self.cv, self.median_tokens, self.sigma]
        if by_mean == by_median or sum(value is not None for value in given) != 2:
            raise ConfigError(
                "lognormal: give either mean and cv (lognormal:mean=512,cv=0.8) "
                "or median and sigma (lognormal:median=400,sigma=0.7)"
            )
        for name, value in (("mean", self.mean_tokens), ("median", self.median_tokens)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"lognormal: {name} must be a finite number > 0, got {value}")
        for name, value in (("cv", self.cv), ("sigma", self.sigma)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"lognormal: {name} must be a finite number >= 0, got {value}")

    @property
    def log_sigma(self) -> float:
        """Standard deviation of ``ln(tokens)``."""
        if self.sigma is not None:
            return self.sigma
        assert self.cv is not None  # guaranteed by __post_init__
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def log_mu(self) -> float:
        """Mean of ``ln(tokens)``."""
        if self.median_tokens is not None:
            return math.log(self.median_tokens)
        assert self.mean_tokens is not None  # guaranteed by __post_init__
        return math.log(self.mean_tokens) - self.log_sigma**2 / 2

    def sample(self, rng: RandomSource, count: int) -> TokenArray:
        _check_count(count)
        drawn = as_generator(rng).lognormal(self.log_mu, self.log_sigma, size=count)
        return clamp_tokens(drawn, self.min_tokens, self.max_tokens)

    @property
    def spec(self) -> str:
        if self.mean_tokens is not None and self.cv is not None:
            body = f"mean={format_number(self.mean_tokens)},cv={format_number(self.cv)}"
        else:
            assert self.median_tokens is not None  # guaranteed by __post_init__
            assert self.sigma is not None
            body = f"median={format_number(self.median_tokens)},sigma={format_number(self.sigma)}"
        return f"lognormal:{body}{_clamp_suffix(self.min_tokens, self.max_tokens)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NormalTokens:
    """A normal distribution of mean ``mean_tokens`` and standard deviation ``std_tokens``.

    Draws below ``min_tokens`` or above ``max_tokens`` are clipped to the bound (not redrawn).
    """

    mean_tokens: float
    std_tokens: float
    min_tokens: int = 1
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _check_clamps("normal", self.min_tokens, self.max_tokens)
        if not (math.isfinite(self.mean_tokens) and self.mean_tokens > 0):
            raise ConfigError(f"normal: mean must be a finite number > 0, got {self.mean_tokens}")
        if not (math.isfinite(self.std_tokens) and self.std_tokens >= 0):
            raise ConfigError(f"normal: std must be a finite number >= 0, got {self.std_tokens}")

    def sample(self, rng: RandomSource, count: int) -> TokenArray:
        _check_count(count)
        drawn = as_generator(rng).normal(self.mean_tokens, self.std_tokens, size=count)
        return clamp_tokens(drawn, self.min_tokens, self.max_tokens)

    @property
    def spec(self) -> str:
        body = f"mean={format_number(self.mean_tokens)},std={format_number(self.std_tokens)}"
        return f"normal:{body}{_clamp_suffix(self.min_tokens, self.max_tokens)}"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class EmpiricalTokens:
    """Resample, uniformly with replacement, from observed token counts (e.g. a trace column).

    ``source`` is the text this sampler was read from (``trace:PATH:COLUMN``), used by
    :attr:`spec`; it is empty for values given in memory. Two samplers are equal when their
    values and sources are.
    """

    values: TokenArray
    source: str = ""
    min_tokens: int = 1
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _check_clamps("empirical", self.min_tokens, self.max_tokens)
        values = np.array(self.values, dtype=np.int64)  # a private copy that nobody can change
        if values.ndim != 1 or values.size == 0:
            raise ConfigError("empirical: values must be a non-empty one-dimensional sequence")
        if values.min() < 0:
            raise ConfigError("empirical: token counts must be >= 0")
        values.flags.writeable = False
        object.__setattr__(self, "values", values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EmpiricalTokens):
            return NotImplemented
        return (
            (self.source, self.min_tokens, self.max_tokens)
            == (other.source, other.min_tokens, other.max_tokens)
        ) and np.array_equal(self.values, other.values)

    def __hash__(self) -> int:
        return hash((self.source, self.values.size, self.min_tokens, self.max_tokens))

    def __repr__(self) -> str:
        return f"EmpiricalTokens(source={self.source!r}, n={self.values.size})"

    def sample(self, rng: RandomSource, count: int) -> TokenArray:
        _check_count(count)
        picks = as_generator(rng).integers(0, self.values.size, size=count)
        return clamp_tokens(self.values[picks], self.min_tokens, self.max_tokens)

    @property
    def spec(self) -> str:
        if not self.source:
            raise ConfigError("empirical values given in memory have no text form; name a trace")
        return f"{self.source}{_clamp_suffix(self.min_tokens, self.max_tokens)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayTokens:
    """Take the token count of each replayed trace row, in order, clamped.

    Valid only with trace-replay arrivals whose trace has the column: prompt and output counts
    then stay paired with the arrival times they were observed with.
    """

    min_tokens: int = 1
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _check_clamps("replay", self.min_tokens, self.max_tokens)

    def take(self, values: TokenArray) -> TokenArray:
        """The replayed rows' ``values``, clamped."""
        return clamp_tokens(values, self.min_tokens, self.max_tokens)

    @property
    def spec(self) -> str:
        suffix = _clamp_suffix(self.min_tokens, self.max_tokens)
        return f"replay:{suffix.removeprefix(',')}" if suffix else "replay"
