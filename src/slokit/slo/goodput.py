"""Goodput: the rate of requests, and of their output tokens, that met every per-request SLO."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from slokit.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Goodput:
    """Good work per second of a run.

    ``requests_per_s = good_requests / duration_s`` and
    ``output_tokens_per_s = good_output_tokens / duration_s``, where only good requests (those
    that succeeded and met every per-request objective) and their output tokens count.
    """

    requests_per_s: float
    output_tokens_per_s: float
    good_requests: int
    good_output_tokens: int
    duration_s: float


def goodput(good: npt.ArrayLike, output_tokens: npt.ArrayLike, *, duration_s: float) -> Goodput:
    """Goodput of a run from each request's good flag and output token count.

    ``good[i]`` is request ``i``'s :attr:`slokit.slo.verdict.Verdict.good`; failed and timed-out
    requests must be flagged not good (a verdict already does so). ``output_tokens[i]`` is its
    number of output tokens (>= 0). ``duration_s`` is the run's wall time (> 0), from the first
    request sent to the last one finished, so a run that served nothing good has goodput 0.
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ConfigError(f"duration_s must be a finite number of seconds > 0, got {duration_s!r}")
    flags = np.asarray(good)
    tokens = np.asarray(output_tokens)
    if flags.ndim != 1 or tokens.ndim != 1:
        raise ConfigError("good and output_tokens must be one-dimensional, one entry per request")
    if flags.shape != tokens.shape:
        raise ConfigError(
            f"good has {flags.size} requests but output_tokens has {tokens.size}; "
            "give one entry per request in both"
        )
    # An empty list converts to a float array, so the kinds are checked only when non-empty.
    if flags.size and flags.dtype.kind != "b":
        raise ConfigError(f"good must hold booleans, got dtype {flags.dtype}")
    if tokens.size and tokens.dtype.kind not in "iu":
        raise ConfigError(f"output_tokens must hold integers, got dtype {tokens.dtype}")
    if tokens.size and tokens.min() < 0:
        raise ConfigError("output_tokens must be >= 0 for every request")
    good_requests = int(np.count_nonzero(flags))
    good_output_tokens = int(tokens[flags.astype(bool)].sum(dtype=np.int64)) if tokens.size else 0
    return Goodput(
        requests_per_s=good_requests / duration_s,
        output_tokens_per_s=good_output_tokens / duration_s,
        good_requests=good_requests,
        good_output_tokens=good_output_tokens,
        duration_s=duration_s,
    )
