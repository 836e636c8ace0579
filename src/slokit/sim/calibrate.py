"""Fitting a serving profile to measurements of a real endpoint, with the goodness of each fit.

Two weighted least-squares fits, coefficients bounded at zero (``scipy.optimize.lsq_linear``):

- prefill, from the time to first token of requests sent alone::

      ttft_s(T) = prefill_base_s + prefill_per_token_s * T + prefill_per_token2_s * T**2

  ``prefill_base_s`` is everything a lone request pays before its first token that does not
  grow with the prompt: HTTP, chat template, tokenisation, scheduling. Residuals are weighted by
  ``1 / ttft_s`` (relative error), so short prompts, where the overhead dominates, count as
  much as long ones.
- decode step, from the inter-token gaps of streams decoding together::

      step_s(n, C) = decode_base_s + decode_per_seq_s * n + decode_per_context_token_s * C

  A column that the samples do not vary (one batch size only, as on a server that decodes one
  request at a time) cannot be told apart from the base and is left at zero.

Goodness of fit is reported per fit: R squared, root-mean-square error and the largest
relative error over the samples. What could not be observed (KV capacity beyond one context,
the token budget of a batching server) is filled from the options and listed as assumptions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import lsq_linear
from scipy.stats import f as f_distribution

from slokit.errors import ConfigError
from slokit.sim.profile import Profile

#: Iteration token budget assumed for a batching server when none is given (vLLM's default
#: ``max_num_batched_tokens`` with chunked prefill on large GPUs).
DEFAULT_BATCHED_TOKENS = 8192
#: Context assumed when the endpoint's context limit could not be observed.
DEFAULT_CONTEXT_TOKENS = 8192


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefillSample:
    """A request sent alone: its prompt length and its time to first token."""

    prompt_tokens: int
    ttft_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeSample:
    """The mean decode step of ``batch_size`` streams holding ``context_tokens`` in total."""

    batch_size: int
    context_tokens: float
    step_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurements:
    """What a calibration run observed at an endpoint.

    ``parallel_slots`` is the most requests seen decoding at the same time; ``slots_saturated``
    is true when a probe sent more requests at once than that, so it is the server's limit and
    not the probe's. ``context_limit_tokens`` is the longest prompt plus output the server
    accepts (``None``: not observed), and ``prompt_overhead_tokens`` the tokens the server
    counts beyond the prompt sent (chat template, default system message), both in the tokens
    of the prompt as requested.
    """

    model: str
    prefill: tuple[PrefillSample, ...]
    decode: tuple[DecodeSample, ...]
    parallel_slots: int
    slots_saturated: bool
    context_limit_tokens: int | None = None
    prompt_overhead_tokens: int | None = None
    stream_tail_s: float = 0.0

    def __post_init__(self) -> None:
        if self.parallel_slots < 1:
            raise ConfigError(
                f"calibration: parallel_slots must be >= 1, got {self.parallel_slots}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class FitOptions:
    """Choices and overrides for :func:`fit_profile`; ``None`` means "from the measurements"."""

    quadratic_prefill: bool = True
    max_batch_size: int | None = None
    kv_capacity_tokens: int | None = None
    max_batched_tokens: int | None = None
    price_per_hour: float = 0.0

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "kv_capacity_tokens", "max_batched_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} must be a whole number >= 1, got {value}")
        if not (math.isfinite(self.price_per_hour) and self.price_per_hour >= 0):
            raise ConfigError(f"--price-per-hour must be >= 0, got {self.price_per_hour}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FitQuality:
    """How well a fit explains its samples (seconds for the error, a share for the relative)."""

    samples: int
    r_squared: float
    rmse_s: float
    max_relative_error: float

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "r_squared": self.r_squared,
            "rmse_s": self.rmse_s,
            "max_relative_error": self.max_relative_error,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Calibration:
    """A fitted profile, how well each part fits, and what had to be assumed."""

    profile: Profile
    prefill_fit: FitQuality
    decode_fit: FitQuality
    assumptions: tuple[str, ...]
    measurements: Measurements

    def to_json(self) -> dict[str, Any]:
        """The fit report: profile, fit quality, assumptions and the samples themselves."""
        measured = self.measurements
        return {
            "profile": self.profile.to_json(),
            "prefill_fit": self.prefill_fit.to_json(),
            "decode_fit": self.decode_fit.to_json(),
            "assumptions": list(self.assumptions),
            "observed": {
                "parallel_slots": measured.parallel_slots,
                "slots_saturated": measured.slots_saturated,
                "context_limit_tokens": measured.context_limit_tokens,
                "prompt_overhead_tokens": measured.prompt_overhead_tokens,
                "stream_tail_s": measured.stream_tail_s,
            },
            "prefill_samples": [[s.prompt_tokens, s.ttft_s] for s in measured.prefill],
            "decode_samples": [[s.batch_size, s.context_tokens, s.step_s] for s in measured.decode],
        }


def fit_prefill(
    samples: Sequence[PrefillSample], *, quadratic: bool = True
) -> tuple[tuple[float, float, float], FitQuality]:
    """``(prefill_base_s, prefill_per_token_s, prefill_per_token2_s)`` and the fit's quality.

    Needs TTFTs at three distinct prompt lengths (two without the quadratic term). The
    quadratic term is kept only where the samples support it: an F-test of the weighted
    residuals at the 5% level, against the line. Noisy short prompts otherwise give a large
    curvature that extrapolates badly to the longer prompts of a workload.
    """
    needed = 3 if quadratic else 2
    lengths = {s.prompt_tokens for s in samples}
    if len(lengths) < needed:
        raise ConfigError(
            f"calibration: the prefill fit needs TTFTs at >= {needed} distinct prompt lengths, "
            f"got {len(lengths)}; give more --prompt-lengths"
        )
    tokens = np.array([s.prompt_tokens for s in samples], dtype=np.float64)
    ttft = np.array([s.ttft_s for s in samples], dtype=np.float64)
    line = np.column_stack([np.ones_like(tokens), tokens])
    coefficients, quality = _fit(line, ttft)
    if quadratic:
        curve, curve_quality = _fit(np.column_stack([line, tokens * tokens]), ttft)
        if _curvature_supported(line, curve, [*coefficients, 0.0], ttft):
            return (curve[0], curve[1], curve[2]), curve_quality
    return (coefficients[0], coefficients[1], 0.0), quality


def _curvature_supported(
    line: NDArray[np.float64],
    curve: list[float],
    flat: list[float],
    observed: NDArray[np.float64],
) -> bool:
    """F-test (5%) of the quadratic fit's weighted residuals against the line's."""
    design = np.column_stack([line, line[:, 1] ** 2])
    weights = 1.0 / observed
    residual_curve = float(np.sum(((observed - design @ np.array(curve)) * weights) ** 2))
    residual_line = float(np.sum(((observed - design @ np.array(flat)) * weights) ** 2))
    freedom = observed.size - 3
    if freedom < 1:  # three samples: the curve goes through them, nothing to test against
        return curve[2] > 0
    if residual_line <= residual_curve:
        return False
    if residual_curve <= 1e-12 * residual_line:  # exact data
        return True
    statistic = (residual_line - residual_curve) / (residual_curve / freedom)
    return bool(statistic > f_distribution.ppf(0.95, 1, freedom))


def fit_decode(
    samples: Sequence[DecodeSample],
) -> tuple[tuple[float, float, float], FitQuality]:
    """``(decode_base_s, decode_per_seq_s, decode_per_context_token_s)`` and the fit's quality."""
    if not samples:
        raise ConfigError("calibration: no decode step was measured; ask for --output-tokens >= 2")
    batch = np.array([s.batch_size for s in samples], dtype=np.float64)
    context = np.array([s.context_tokens for s in samples], dtype=np.float64)
    step = np.array([s.step_s for s in samples], dtype=np.float64)
    varies_batch = np.ptp(batch) > 0
    varies_context = np.ptp(context) > 0
    columns = [np.ones_like(batch)]
    if varies_batch:
        columns.append(batch)
    if varies_context:
        columns.append(context)
    coefficients, quality = _fit(np.column_stack(columns), step)
    values = iter(coefficients[1:])
    per_seq = next(values) if varies_batch else 0.0
    per_context = next(values) if varies_context else 0.0
    base = coefficients[0]
    if base + per_seq <= 0:
        # A step must take time: the fit put it all on the context, so keep the smallest step.
        base = float(step.min())
    return (base, per_seq, per_context), quality


def fit_profile(measurements: Measurements, options: FitOptions | None = None) -> Calibration:
    """Fit a :class:`Profile` to ``measurements`` (see the module docstring)."""
    options = options or FitOptions()
    prefill, prefill_quality = fit_prefill(
        measurements.prefill, quadratic=options.quadratic_prefill
    )
    decode, decode_quality = fit_decode(measurements.decode)
    assumptions: list[str] = []
    max_batch = options.max_batch_size or measurements.parallel_slots
    if options.max_batch_size is None and not measurements.slots_saturated:
        assumptions.append(
            f"max_batch_size: no probe saturated the server; {max_batch} is the most requests "
            "seen decoding together, a lower bound (set --max-batch-size)"
        )
    kv_capacity = _kv_capacity(measurements, options, max_batch, assumptions)
    serial = max_batch == 1
    if options.max_batched_tokens is not None:
        batched = max(options.max_batched_tokens, max_batch)
    elif serial:
        # One request at a time, prompt evaluated whole: one iteration per prompt.
        batched = kv_capacity
    else:
        batched = max(DEFAULT_BATCHED_TOKENS, max_batch)
        assumptions.append(
            f"max_batched_tokens: not observable from outside, assumed {batched} "
            "(set --max-batched-tokens)"
        )
    profile = Profile(
        model=measurements.model,
        prefill_base_s=prefill[0],
        prefill_per_token_s=prefill[1],
        prefill_per_token2_s=prefill[2],
        decode_base_s=decode[0],
        decode_per_seq_s=decode[1],
        decode_per_context_token_s=decode[2],
        max_batch_size=max_batch,
        max_batched_tokens=batched,
        chunked_prefill=not serial,
        kv_capacity_tokens=kv_capacity,
        kv_block_tokens=min(16, kv_capacity),
        price_per_hour=options.price_per_hour,
    )
    return Calibration(
        profile=profile,
        prefill_fit=prefill_quality,
        decode_fit=decode_quality,
        assumptions=tuple(assumptions),
        measurements=measurements,
    )


def _kv_capacity(
    measurements: Measurements, options: FitOptions, max_batch: int, assumptions: list[str]
) -> int:
    if options.kv_capacity_tokens is not None:
        return options.kv_capacity_tokens
    context = measurements.context_limit_tokens
    if context is None:
        context = DEFAULT_CONTEXT_TOKENS
        assumptions.append(
            f"context limit: the server accepted the longest probe, assumed {context} tokens"
        )
    if max_batch == 1:
        return context
    assumptions.append(
        f"kv_capacity_tokens: assumed room for {max_batch} full contexts of {context} tokens, "
        "so no preemption (set --kv-capacity-tokens from the server's KV cache size)"
    )
    return context * max_batch


def _fit(
    design: NDArray[np.float64], observed: NDArray[np.float64]
) -> tuple[list[float], FitQuality]:
    """Non-negative least squares weighted by ``1 / observed``, and the unweighted quality."""
    if np.any(~np.isfinite(observed)) or np.any(observed <= 0):
        raise ConfigError("calibration: every measured time must be finite and > 0")
    weights = 1.0 / observed
    # Scale the columns to comparable sizes so the solver's tolerance means the same for each.
    scale = np.abs(design).max(axis=0)
    scale[scale == 0] = 1.0
    solution = lsq_linear(
        design * weights[:, None] / scale, observed * weights, bounds=(0.0, np.inf), method="bvls"
    )
    coefficients = solution.x / scale
    predicted = design @ coefficients
    residual = observed - predicted
    total = float(np.sum((observed - observed.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residual**2)) / total if total > 0 else 1.0
    quality = FitQuality(
        samples=int(observed.size),
        r_squared=r_squared,
        rmse_s=float(np.sqrt(np.mean(residual**2))),
        max_relative_error=float(np.max(np.abs(residual) / observed)),
    )
    return [float(value) for value in coefficients], quality
