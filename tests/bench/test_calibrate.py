from collections.abc import Iterator

import pytest

from slokit.bench.calibrate import (
    CalibrationPlan,
    max_overlap,
    measure_endpoint,
    parse_context_limit,
)
from slokit.bench.client import ClientConfig
from slokit.emulate import EmulatorConfig, FixedTiming, ProfileTiming, run_emulator_process
from slokit.errors import ConfigError, SlokitError
from slokit.sim import Profile
from slokit.sim.calibrate import fit_profile

TTFT_S = 0.04
ITL_S = 0.01
SMALL = CalibrationPlan(
    prompt_lengths=(8, 16, 32),
    repeats=2,
    output_tokens=6,
    warmup_requests=1,
    max_concurrency=4,
    context_probe_tokens=0,
)


@pytest.fixture(scope="module")
def fixed_url() -> Iterator[str]:
    config = EmulatorConfig(timing=FixedTiming(ttft_s=TTFT_S, itl_s=ITL_S))
    with run_emulator_process(config) as base_url:
        yield base_url


def test_probes_of_a_fixed_timing_emulator_see_its_ttft_itl_and_unbounded_slots(
    fixed_url: str,
) -> None:
    done: list[None] = []
    measured = measure_endpoint(
        ClientConfig(base_url=fixed_url), "m", SMALL, on_request=lambda: done.append(None)
    )
    assert len(done) == SMALL.request_budget()  # no burst saturated: every burst was sent
    assert len(measured.prefill) == 6
    assert {s.prompt_tokens for s in measured.prefill} == {8, 16, 32}
    for sample in measured.prefill:
        assert TTFT_S <= sample.ttft_s < TTFT_S + 0.05
    batches = {s.batch_size for s in measured.decode}
    assert batches == {1, 2, 4}
    for sample in measured.decode:
        assert sample.step_s == pytest.approx(ITL_S, abs=0.005)
    assert (measured.parallel_slots, measured.slots_saturated) == (4, False)
    assert measured.prompt_overhead_tokens == 0  # the emulator counts words as tokens
    assert measured.context_limit_tokens is None
    profile = fit_profile(measured).profile
    assert profile.prefill_base_s == pytest.approx(TTFT_S, abs=0.02)
    assert profile.decode_base_s + profile.decode_per_seq_s == pytest.approx(ITL_S, abs=0.005)


def test_a_profile_emulator_is_calibrated_back_to_its_profile() -> None:
    known = Profile(
        model="emulated",
        prefill_base_s=0.03,
        prefill_per_token_s=4e-4,
        decode_base_s=0.012,
        max_batch_size=2,
        max_batched_tokens=4096,
        kv_capacity_tokens=8192,
    )
    plan = CalibrationPlan(
        prompt_lengths=(16, 64, 128, 256),
        repeats=1,
        output_tokens=6,
        warmup_requests=0,
        max_concurrency=8,
        context_probe_tokens=0,
    )
    with run_emulator_process(EmulatorConfig(timing=ProfileTiming(profile=known))) as url:
        measured = measure_endpoint(ClientConfig(base_url=url), "emulated", plan)
    assert (measured.parallel_slots, measured.slots_saturated) == (2, True)
    fitted = fit_profile(measured).profile
    assert fitted.max_batch_size == 2
    # Each probe also pays the HTTP round trip and the timer's wake-up: a few milliseconds.
    assert fitted.prefill_per_token_s == pytest.approx(4e-4, rel=0.15)
    assert fitted.prefill_base_s == pytest.approx(0.03, abs=0.015)
    assert fitted.decode_base_s + fitted.decode_per_seq_s == pytest.approx(0.012, abs=0.004)


def test_a_refused_probe_is_an_error_that_names_the_way_out() -> None:
    with pytest.raises(SlokitError, match="calibration request failed: connect"):
        measure_endpoint(ClientConfig(base_url="http://127.0.0.1:9/v1", timeout_s=2), "m", SMALL)


@pytest.mark.parametrize(
    ("message", "limit"),
    [
        ("This model's maximum context length is 2048 tokens. However, you requested", 2048),
        ("Requested tokens (5000) exceed context window of 4096", 4096),
        ("the request exceeds the available context size", None),
    ],
)
def test_the_context_limit_is_read_from_the_rejection(message: str, limit: int | None) -> None:
    assert parse_context_limit(message) == limit


def test_streams_that_only_touch_do_not_overlap() -> None:
    serial = [[0.0, 0.5, 1.0], [1.0, 1.5], [2.0, 2.5]]
    assert max_overlap(serial) == 1
    batched = [[0.0, 1.0], [0.1, 1.1], [0.2, 0.9], [2.0, 3.0]]
    assert max_overlap(batched) == 3
    assert max_overlap([[]]) == 1


@pytest.mark.parametrize(
    ("fields", "flag"),
    [
        ({"prompt_lengths": ()}, "--prompt-lengths"),
        ({"output_tokens": 1}, "--output-tokens"),
        ({"repeats": 0}, "--repeats"),
        ({"max_concurrency": 0}, "--max-concurrency"),
        ({"context_probe_tokens": -1}, "--context-probe-tokens"),
    ],
)
def test_a_bad_plan_is_a_config_error_naming_the_flag(fields: dict[str, object], flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        CalibrationPlan(**fields)  # type: ignore[arg-type]
