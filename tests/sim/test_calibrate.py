import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slokit.errors import ConfigError
from slokit.sim import Profile, simulate
from slokit.sim.calibrate import (
    DEFAULT_BATCHED_TOKENS,
    DecodeSample,
    FitOptions,
    Measurements,
    PrefillSample,
    fit_decode,
    fit_prefill,
    fit_profile,
)

LENGTHS = (8, 16, 32, 64, 128, 256, 512)
OUTPUT_TOKENS = 32


def serial_profile(**overrides: object) -> Profile:
    fields: dict[str, object] = {
        "model": "known",
        "prefill_base_s": 0.08,
        "prefill_per_token_s": 5.5e-3,
        "prefill_per_token2_s": 1.5e-6,
        "decode_base_s": 0.013,
        "decode_per_context_token_s": 6.0e-6,
        "max_batch_size": 1,
        "max_batched_tokens": 2048,
        "chunked_prefill": False,
        "kv_capacity_tokens": 2048,
    }
    fields.update(overrides)
    return Profile(**fields)  # type: ignore[arg-type]


def observed_alone(profile: Profile) -> Measurements:
    """What the bench driver would record of ``profile``, each request simulated alone.

    TTFT is the first token's time; the decode step is the mean gap after it, at the mean
    context ``prompt + output / 2`` (the driver's convention).
    """
    prefill, decode = [], []
    for tokens in LENGTHS:
        result = simulate(
            profile=profile,
            replicas=1,
            arrival_s=[0.0],
            prompt_tokens=[tokens],
            output_tokens=[OUTPUT_TOKENS],
        )
        ttft, e2e = float(result.ttft_s[0]), float(result.e2e_s[0])
        prefill.append(PrefillSample(prompt_tokens=tokens, ttft_s=ttft))
        decode.append(
            DecodeSample(
                batch_size=1,
                context_tokens=tokens + OUTPUT_TOKENS / 2,
                step_s=(e2e - ttft) / (OUTPUT_TOKENS - 1),
            )
        )
    return Measurements(
        model=profile.model,
        prefill=tuple(prefill),
        decode=tuple(decode),
        parallel_slots=1,
        slots_saturated=True,
        context_limit_tokens=profile.kv_capacity_tokens,
    )


def test_a_serial_profile_is_recovered_from_its_own_simulated_requests() -> None:
    known = serial_profile()
    calibration = fit_profile(observed_alone(known))
    fitted = calibration.profile
    for name in (
        "prefill_base_s",
        "prefill_per_token_s",
        "prefill_per_token2_s",
        "decode_base_s",
        "decode_per_context_token_s",
    ):
        assert getattr(fitted, name) == pytest.approx(getattr(known, name), rel=1e-6), name
    assert fitted.decode_per_seq_s == 0.0
    assert (fitted.max_batch_size, fitted.chunked_prefill) == (1, False)
    assert fitted.kv_capacity_tokens == fitted.max_batched_tokens == 2048
    assert calibration.prefill_fit.r_squared == pytest.approx(1.0)
    assert calibration.decode_fit.max_relative_error < 1e-9
    assert calibration.assumptions == ()


@settings(max_examples=40, deadline=None)
@given(
    base=st.floats(0.0, 0.5),
    per_token=st.floats(1e-6, 1e-2),
    per_token2=st.floats(0.0, 1e-5),
)
def test_prefill_coefficients_are_recovered(
    base: float, per_token: float, per_token2: float
) -> None:
    samples = [
        PrefillSample(
            prompt_tokens=tokens, ttft_s=base + per_token * tokens + per_token2 * tokens**2
        )
        for tokens in LENGTHS
    ]
    (fit_base, fit_token, fit_token2), quality = fit_prefill(samples)
    for fitted, known in ((fit_base, base), (fit_token, per_token), (fit_token2, per_token2)):
        assert fitted == pytest.approx(known, rel=1e-5, abs=1e-9)
    assert quality.max_relative_error < 1e-6


@settings(max_examples=40, deadline=None)
@given(
    base=st.floats(1e-4, 0.05),
    per_seq=st.floats(0.0, 1e-3),
    per_context=st.floats(0.0, 1e-6),
)
def test_decode_coefficients_are_recovered_across_batch_sizes(
    base: float, per_seq: float, per_context: float
) -> None:
    samples = [
        DecodeSample(
            batch_size=batch,
            context_tokens=batch * context,
            step_s=base + per_seq * batch + per_context * batch * context,
        )
        for batch in (1, 2, 4, 8, 16)
        for context in (64, 512)
    ]
    coefficients, quality = fit_decode(samples)
    for fitted, known in zip(coefficients, (base, per_seq, per_context), strict=True):
        assert fitted == pytest.approx(known, rel=1e-5, abs=1e-10)
    assert quality.samples == 10


def test_noise_lowers_the_goodness_of_fit_and_keeps_coefficients_non_negative_and_straight() -> (
    None
):
    rng = np.random.default_rng(7)
    samples = [
        PrefillSample(prompt_tokens=tokens, ttft_s=(0.05 + 1e-3 * tokens) * rng.lognormal(0, 0.1))
        for tokens in LENGTHS
        for _ in range(3)
    ]
    coefficients, quality = fit_prefill(samples)
    assert min(coefficients) >= 0.0
    assert coefficients[2] == 0.0  # a straight line with noise earns no curvature
    assert 0.5 < quality.r_squared < 1.0
    assert quality.rmse_s > 0
    assert coefficients[1] == pytest.approx(1e-3, rel=0.3)


def test_without_the_quadratic_term_it_stays_zero() -> None:
    samples = [
        PrefillSample(prompt_tokens=t, ttft_s=0.01 + 1e-4 * t + 1e-7 * t * t) for t in LENGTHS
    ]
    (_, per_token, per_token2), _ = fit_prefill(samples, quadratic=False)
    assert per_token2 == 0.0
    assert per_token > 1e-4  # the linear term absorbs the curvature


def test_a_decode_fit_with_one_batch_size_and_one_context_is_a_mean_step() -> None:
    samples = [DecodeSample(batch_size=1, context_tokens=100, step_s=s) for s in (0.01, 0.012)]
    (base, per_seq, per_context), _ = fit_decode(samples)
    assert (per_seq, per_context) == (0.0, 0.0)
    assert 0.01 < base < 0.012


def batching(**overrides: object) -> Measurements:
    fields: dict[str, object] = {
        "model": "gpu",
        "prefill": tuple(PrefillSample(prompt_tokens=t, ttft_s=0.02 + 1e-5 * t) for t in LENGTHS),
        "decode": tuple(
            DecodeSample(batch_size=b, context_tokens=c * b, step_s=0.01 + 1e-4 * b + 1e-8 * c * b)
            for b in (1, 2, 4, 8)
            for c in (64, 512)
        ),
        "parallel_slots": 8,
        "slots_saturated": True,
        "context_limit_tokens": 4096,
    }
    fields.update(overrides)
    return Measurements(**fields)  # type: ignore[arg-type]


def test_a_batching_server_gets_chunked_prefill_and_says_what_it_assumed() -> None:
    calibration = fit_profile(batching())
    profile = calibration.profile
    assert profile.max_batch_size == 8
    assert profile.chunked_prefill
    assert profile.max_batched_tokens == DEFAULT_BATCHED_TOKENS
    assert profile.kv_capacity_tokens == 8 * 4096
    assert profile.decode_per_seq_s == pytest.approx(1e-4, rel=1e-4)
    assumed = " ".join(calibration.assumptions)
    assert "--max-batched-tokens" in assumed
    assert "--kv-capacity-tokens" in assumed
    assert "--max-batch-size" not in assumed


def test_unsaturated_slots_and_an_unseen_context_limit_are_assumptions() -> None:
    calibration = fit_profile(batching(slots_saturated=False, context_limit_tokens=None))
    assumed = " ".join(calibration.assumptions)
    assert "--max-batch-size" in assumed
    assert "context limit" in assumed


def test_options_override_what_was_measured() -> None:
    options = FitOptions(
        max_batch_size=64, kv_capacity_tokens=100_000, max_batched_tokens=2048, price_per_hour=2.5
    )
    calibration = fit_profile(batching(slots_saturated=False), options)
    profile = calibration.profile
    assert (profile.max_batch_size, profile.kv_capacity_tokens) == (64, 100_000)
    assert (profile.max_batched_tokens, profile.price_per_hour) == (2048, 2.5)
    assert calibration.assumptions == ()


def test_the_report_carries_a_loadable_profile_and_the_samples() -> None:
    calibration = fit_profile(observed_alone(serial_profile()))
    report = calibration.to_json()
    assert Profile.from_json(report["profile"]) == calibration.profile
    assert len(report["prefill_samples"]) == len(LENGTHS)
    assert report["observed"]["parallel_slots"] == 1
    assert math.isfinite(report["prefill_fit"]["r_squared"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fit_prefill([PrefillSample(prompt_tokens=8, ttft_s=0.1)] * 5), "--prompt-lengths"),
        (lambda: fit_decode([]), "--output-tokens"),
        (
            lambda: fit_prefill([PrefillSample(prompt_tokens=t, ttft_s=0.0) for t in LENGTHS]),
            "finite and > 0",
        ),
        (lambda: FitOptions(max_batch_size=0), "--max-batch-size"),
        (lambda: FitOptions(price_per_hour=-1), "--price-per-hour"),
        (lambda: batching(parallel_slots=0), "parallel_slots"),
    ],
)
def test_unusable_input_is_a_config_error_naming_the_fix(call: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()  # type: ignore[operator]
