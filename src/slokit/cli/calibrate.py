"""``slokit calibrate``: measure an OpenAI-compatible endpoint and fit a simulator profile.

Parsing and printing only: the probes live in :mod:`slokit.bench.calibrate`, the fit in
:mod:`slokit.sim.calibrate`. Exit codes: 0 a profile was written, 1 the endpoint could not be
measured, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
from tqdm import tqdm

from slokit.bench.benchmark import BenchSettings, check_endpoint
from slokit.bench.calibrate import CalibrationPlan, measure_endpoint
from slokit.cli.options import (
    api_key,
    count,
    endpoint_group,
    non_negative,
    positive,
    show_duration,
    table,
)
from slokit.sim.calibrate import Calibration, FitOptions, FitQuality, fit_profile

NAME = "calibrate"
HELP = "Measure an OpenAI-compatible endpoint and fit a simulator profile to it."

_EXIT_OK = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``slokit calibrate``; values are validated in :func:`run`."""
    target = endpoint_group(parser)
    target.add_argument(
        "--no-force-length",
        action="store_true",
        help="do not send min_tokens/ignore_eos (for servers that refuse them; replies may "
        "then end early)",
    )
    probes = parser.add_argument_group("probes")
    probes.add_argument(
        "--prompt-lengths",
        default="16,32,64,128,256,512",
        metavar="N,N,...",
        help="prompt lengths (tokens) of the single-request probes",
    )
    probes.add_argument("--repeats", default="3", metavar="N", help="probes per prompt length")
    probes.add_argument(
        "--output-tokens", default="32", metavar="N", help="reply length of every probe"
    )
    probes.add_argument("--warmup", default="2", metavar="N", help="warm-up requests, discarded")
    probes.add_argument(
        "--max-concurrency",
        default="64",
        metavar="N",
        help="largest burst sent at once to find the server's parallel slots",
    )
    probes.add_argument(
        "--burst-prompt-tokens", default="32", metavar="N", help="prompt length in bursts"
    )
    probes.add_argument(
        "--context-probe-tokens",
        default="32768",
        metavar="N",
        help="length of the over-long prompt whose rejection names the context limit (0: skip)",
    )
    probes.add_argument("--seed", default="0", metavar="N", help="seed of prompt texts and order")
    fit = parser.add_argument_group("fit (overrides for what the probes cannot see)")
    fit.add_argument(
        "--linear-prefill", action="store_true", help="fit prefill without the quadratic term"
    )
    fit.add_argument("--max-batch-size", metavar="N", help="the server's batch limit")
    fit.add_argument("--kv-capacity-tokens", metavar="N", help="the server's KV cache size")
    fit.add_argument("--max-batched-tokens", metavar="N", help="the server's iteration budget")
    fit.add_argument("--price-per-hour", default="0", metavar="PRICE", help="replica price")
    out = parser.add_argument_group("output")
    out.add_argument(
        "-o", "--output", default="profile.json", metavar="PATH", help="profile file to write"
    )
    out.add_argument(
        "--fit-report",
        metavar="PATH",
        help="also write the samples, fit quality and assumptions as JSON",
    )
    out.add_argument("--json", action="store_true", help="print the fit report as JSON")
    out.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    plan = _plan(args)
    options = _options(args)
    check_endpoint(settings)
    with tqdm(
        total=plan.request_budget(),
        desc="calibrating",
        unit="req",
        disable=args.quiet,
        file=sys.stderr,
    ) as bar:

        def advance() -> None:
            bar.update(1)

        measurements = measure_endpoint(settings.client(), settings.model, plan, on_request=advance)
        bar.total = bar.n  # bursts stop once the server's slots are found
        bar.refresh()
    calibration = fit_profile(measurements, options)
    output = Path(args.output)
    calibration.profile.save(output)
    if args.fit_report is not None:
        report = Path(args.fit_report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_bytes(orjson.dumps(calibration.to_json(), option=orjson.OPT_INDENT_2))
    if args.json:
        print(orjson.dumps(calibration.to_json()).decode())
    else:
        print(summary(calibration))
        print(f"\nwrote {output}")
    return _EXIT_OK


def summary(calibration: Calibration) -> str:
    """The fitted profile and the quality of each fit, as aligned text."""
    profile = calibration.profile
    measured = calibration.measurements
    slots = f"{profile.max_batch_size}" + ("" if measured.slots_saturated else " (at least)")
    overhead = measured.prompt_overhead_tokens
    rows = [
        ("model", profile.model),
        (
            "prefill",
            (
                f"{show_duration(profile.prefill_base_s)} + "
                f"{profile.prefill_per_token_s * 1e3:.4g} ms/token + "
                f"{profile.prefill_per_token2_s * 1e6:.4g} us/token^2"
            ),
        ),
        ("  fit", _quality(calibration.prefill_fit)),
        (
            "decode step",
            (
                f"{show_duration(profile.decode_base_s)} + "
                f"{profile.decode_per_seq_s * 1e3:.4g} ms/seq + "
                f"{profile.decode_per_context_token_s * 1e6:.4g} us/context token"
            ),
        ),
        ("  fit", _quality(calibration.decode_fit)),
        ("parallel slots", slots),
        ("KV capacity", f"{profile.kv_capacity_tokens} tokens"),
        ("iteration budget", f"{profile.max_batched_tokens} tokens"),
        ("prompt overhead", "-" if overhead is None else f"{overhead} tokens (chat template)"),
        ("stream tail", show_duration(measured.stream_tail_s)),
    ]
    lines = [table(rows)]
    lines.extend(f"assumed: {assumption}" for assumption in calibration.assumptions)
    return "\n".join(lines)


def _quality(quality: FitQuality) -> str:
    return (
        f"R^2 {quality.r_squared:.4f}, RMSE {show_duration(quality.rmse_s)}, "
        f"max error {quality.max_relative_error * 100:.1f}% over {quality.samples} samples"
    )


def _settings(args: argparse.Namespace) -> BenchSettings:
    return BenchSettings(
        base_url=args.base_url,
        model=args.model,
        api_key=api_key(args),
        timeout_s=positive(args.timeout, "--timeout", "seconds"),
    )


def _plan(args: argparse.Namespace) -> CalibrationPlan:
    lengths = tuple(
        count(part.strip(), "--prompt-lengths") for part in args.prompt_lengths.split(",")
    )
    return CalibrationPlan(
        prompt_lengths=lengths,
        repeats=count(args.repeats, "--repeats"),
        output_tokens=count(args.output_tokens, "--output-tokens"),
        warmup_requests=int(non_negative(args.warmup, "--warmup", "requests")),
        max_concurrency=count(args.max_concurrency, "--max-concurrency"),
        burst_prompt_tokens=count(args.burst_prompt_tokens, "--burst-prompt-tokens"),
        context_probe_tokens=int(
            non_negative(args.context_probe_tokens, "--context-probe-tokens", "tokens, 0: skip")
        ),
        force_length=not args.no_force_length,
        seed=int(non_negative(args.seed, "--seed", "an integer")),
    )


def _options(args: argparse.Namespace) -> FitOptions:
    def optional(value: str | None, flag: str) -> int | None:
        return None if value is None else count(value, flag)

    return FitOptions(
        quadratic_prefill=not args.linear_prefill,
        max_batch_size=optional(args.max_batch_size, "--max-batch-size"),
        kv_capacity_tokens=optional(args.kv_capacity_tokens, "--kv-capacity-tokens"),
        max_batched_tokens=optional(args.max_batched_tokens, "--max-batched-tokens"),
        price_per_hour=non_negative(args.price_per_hour, "--price-per-hour", "price per hour"),
    )
