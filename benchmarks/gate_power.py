"""How often ``slokit gate`` cries wolf, and how often it catches a real slowdown.

Simulated pairs of runs go through :func:`slokit.gate.compare` with its defaults (5% tolerance,
1% family-wise false-alarm budget, 10,000 resamples):

(a) the default metric set (p50 and p99 of ttft_s, tpot_s and e2e_s, and error_rate) on
    LLM-like runs: prompt and output lengths drawn from the Splitwise conversation trace,
    ``ttft = (30 ms + 0.1 ms x prompt tokens) x LogNormal(0, 0.3)``,
    ``tpot = 25 ms x LogNormal(0, 0.15)``, ``e2e = ttft + tpot (output tokens - 1)`` and 0.5%
    failed requests. Scenarios: A/A (same system), every latency x1.10, a tail-only slowdown
    (each latency's upper 5% stretched so that its p99 rises 10%, p95 and below unchanged),
    and the failure rate rising from 0.5% to 2%;
(b) ``e2e_s.p99`` alone on shapes from light to heavy tails: lognormal sigma 0.25, 0.5, 1.0,
    a mixture (95% fast, 5% four times slower) and the LLM-like end-to-end latency.

The default sample size is 5,000 requests per run (what the gate recommends for a p99); others
show how detection grows with it.

Run: ``.venv/bin/python benchmarks/gate_power.py`` (writes benchmarks/results/gate_power.json;
``--quick`` for a smoke run, ``--workers`` to use more processes).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slokit.gate import DEFAULT_CONFIG, GateConfig, RunSamples, compare, parse_metrics
from slokit.results import write_json_atomic
from slokit.slo import attainment

RESULTS = Path(__file__).parent / "results" / "gate_power.json"
TRACE = Path("/work/shared/data/traces/splitwise_conv.csv")
DEFAULT_SAMPLES = 5_000
FALSE_ALARM_TARGET = 0.01
DETECTION_TARGET = 0.95
SLOWDOWN = 1.10
BASE_FAILURE_RATE = 0.005
WORSE_FAILURE_RATE = 0.02
REFERENCE_SAMPLES = 1_000_000
Sampler = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True, slots=True, kw_only=True)
class Tail:
    """A distribution's p95 and p99, from a sample large enough to stand for the population."""

    p95: float
    p99: float

    @classmethod
    def of(cls, reference: np.ndarray) -> Tail:
        p95, p99 = np.quantile(reference, [0.95, 0.99])
        return cls(p95=float(p95), p99=float(p99))


def llm_like(lengths: np.ndarray) -> Callable[[np.random.Generator, int], dict[str, np.ndarray]]:
    """A sampler of LLM-like latency columns whose request shapes come from a trace."""

    def sample(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        prompt, output = lengths[rng.integers(0, len(lengths), n)].T
        ttft = (0.030 + 1e-4 * prompt) * rng.lognormal(0.0, 0.3, n)
        tpot = 0.025 * rng.lognormal(0.0, 0.15, n)
        return {"ttft_s": ttft, "tpot_s": tpot, "e2e_s": ttft + tpot * (output - 1)}

    return sample


def load_lengths() -> np.ndarray:
    if TRACE.exists():
        table = np.loadtxt(TRACE, delimiter=",", skiprows=1, usecols=(1, 2))
        return table[(table[:, 0] >= 1) & (table[:, 1] >= 2)]
    # Without the trace: lognormal lengths with the trace's median and spread.
    rng = np.random.default_rng(0)
    return np.column_stack(
        [
            np.round(rng.lognormal(np.log(1020), 1.0, 20_000)) + 1,
            np.round(rng.lognormal(np.log(129), 0.86, 20_000)) + 2,
        ]
    )


def mixture(rng: np.random.Generator, n: int) -> np.ndarray:
    slow = rng.random(n) < 0.05
    return rng.lognormal(0.0, 0.3, n) * np.where(slow, 4.0, 1.0)


def lognormal(sigma: float) -> Sampler:
    return lambda rng, n: rng.lognormal(0.0, sigma, n)


def slow_tail(values: np.ndarray, tail: Tail) -> np.ndarray:
    """Stretch values above the p95 so that the p99 rises by ``SLOWDOWN``; monotone.

    ``x -> p95 + (x - p95) k`` above ``p95`` with ``k = (SLOWDOWN p99 - p95) / (p99 - p95)``.
    """
    stretch = (SLOWDOWN * tail.p99 - tail.p95) / (tail.p99 - tail.p95)
    return np.where(values > tail.p95, tail.p95 + (values - tail.p95) * stretch, values)


def slowed(values: np.ndarray, tail: Tail, effect: str) -> np.ndarray:
    if effect == "uniform":
        return values * SLOWDOWN
    if effect == "tail":
        return slow_tail(values, tail)
    return values


def family_run(
    columns: dict[str, np.ndarray], tails: dict[str, Tail], effect: str, failed: int
) -> RunSamples:
    kept = {name: slowed(values, tails[name], effect) for name, values in columns.items()}
    return RunSamples(
        ttft_s=kept["ttft_s"],
        tpot_s=kept["tpot_s"],
        itl_s=kept["tpot_s"],
        e2e_s=kept["e2e_s"],
        failed=failed,
        total=failed + kept["e2e_s"].size,
    )


def family_trials(effect: str, samples: int, trials: int, seed: int) -> dict[str, Any]:
    """Scenario (a): the default metrics; counts of runs flagged, overall and per metric."""
    sample = llm_like(load_lengths())
    reference = sample(np.random.default_rng(12345), REFERENCE_SAMPLES)
    tails = {name: Tail.of(values) for name, values in reference.items()}
    rng = np.random.default_rng([seed, samples, len(effect)])
    flagged = 0
    per_metric: dict[str, int] = {}
    for trial in range(trials):
        runs = []
        for role in ("baseline", "candidate"):
            worse = effect == "errors" and role == "candidate"
            failed = int(rng.binomial(samples, WORSE_FAILURE_RATE if worse else BASE_FAILURE_RATE))
            latency_effect = effect if role == "candidate" else "none"
            runs.append(family_run(sample(rng, samples - failed), tails, latency_effect, failed))
        result = compare(runs[0], runs[1], config=GateConfig(seed=trial))
        flagged += result.regressed
        for metric in result.regressions:
            per_metric[metric] = per_metric.get(metric, 0) + 1
    return {"flagged": flagged, "per_metric": per_metric}


def shape_trials(shape_name: str, effect: str, samples: int, trials: int, seed: int) -> int:
    """Scenario (b): ``e2e_s.p99`` alone; the number of runs flagged."""
    draw = shape_samplers()[shape_name]
    tail = Tail.of(draw(np.random.default_rng(12345), REFERENCE_SAMPLES))
    rng = np.random.default_rng([seed, samples, len(effect), len(shape_name)])
    metrics = parse_metrics(["e2e_s.p99"])
    empty = np.empty(0)
    flagged = 0
    for trial in range(trials):
        runs = [
            RunSamples(
                ttft_s=empty,
                tpot_s=empty,
                itl_s=empty,
                e2e_s=slowed(draw(rng, samples), tail, effect if role else "none"),
                failed=0,
                total=samples,
            )
            for role in (0, 1)
        ]
        flagged += compare(
            runs[0], runs[1], metrics=metrics, config=GateConfig(seed=trial)
        ).regressed
    return flagged


def shape_samplers() -> dict[str, Sampler]:
    e2e = llm_like(load_lengths())
    return {
        "lognormal sigma=0.25": lognormal(0.25),
        "lognormal sigma=0.5": lognormal(0.5),
        "lognormal sigma=1.0": lognormal(1.0),
        "mixture 95/5, x4 slow": mixture,
        "LLM-like e2e": lambda rng, n: e2e(rng, n)["e2e_s"],
    }


def rate(flagged: int, trials: int) -> dict[str, float | int]:
    """Share of runs flagged with its 95% Wilson interval."""
    share = attainment(flagged, trials)
    return {
        "flagged": flagged,
        "trials": trials,
        "rate": share.point,
        "low": share.low,
        "high": share.high,
    }


def speed() -> dict[str, float]:
    """Seconds per metric for two runs of 2,000 samples at the default resamples."""
    rng = np.random.default_rng(7)
    runs = [
        RunSamples(ttft_s=v, tpot_s=v, itl_s=v, e2e_s=v, failed=0, total=2_000)
        for v in (rng.lognormal(0, 0.5, 2_000), rng.lognormal(0, 0.5, 2_000))
    ]
    timings = {}
    for metric in ("e2e_s.p99", "e2e_s.mean"):
        start = time.perf_counter()
        compare(runs[0], runs[1], metrics=parse_metrics([metric]))
        timings[metric] = time.perf_counter() - start
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few trials, for a smoke test")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    aa_trials, ab_trials = (200, 50) if args.quick else (2_000, 300)
    family_sizes = (500, 1_000, 2_000, 5_000)
    shape_sizes = (1_000, 5_000, 20_000)
    started = time.perf_counter()
    jobs: dict[tuple[str, ...], Any] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for effect in ("none", "uniform", "tail", "errors"):
            for n in family_sizes:
                trials = aa_trials if effect == "none" else ab_trials
                jobs["a", effect, str(n)] = (
                    trials,
                    pool.submit(family_trials, effect, n, trials, args.seed),
                )
        for name in shape_samplers():
            for effect in ("none", "uniform", "tail"):
                for n in shape_sizes:
                    trials = aa_trials // 2 if effect == "none" else ab_trials
                    jobs["b", name, effect, str(n)] = (
                        trials,
                        pool.submit(shape_trials, name, effect, n, trials, args.seed),
                    )
        outcomes = {key: (trials, future.result()) for key, (trials, future) in jobs.items()}
    family = [
        {
            "effect": key[1],
            "samples": int(key[2]),
            **rate(out["flagged"], trials),
            "per_metric": out["per_metric"],
        }
        for key, (trials, out) in outcomes.items()
        if key[0] == "a"
    ]
    shapes = [
        {"shape": key[1], "effect": key[2], "samples": int(key[3]), **rate(out, trials)}
        for key, (trials, out) in outcomes.items()
        if key[0] == "b"
    ]
    report = {
        "config": {
            "max_regression": DEFAULT_CONFIG.max_regression,
            "alpha": DEFAULT_CONFIG.alpha,
            "resamples": DEFAULT_CONFIG.resamples,
            "default_samples": DEFAULT_SAMPLES,
            "slowdown": SLOWDOWN,
            "failure_rates": [BASE_FAILURE_RATE, WORSE_FAILURE_RATE],
            "trials": {"a_a": aa_trials, "a_b": ab_trials},
            "trace": TRACE.name if TRACE.exists() else None,
        },
        "targets": {
            "false_alarms_at_most": FALSE_ALARM_TARGET,
            "detection_at_least": DETECTION_TARGET,
        },
        "default_metrics": family,
        "e2e_p99_alone": shapes,
        "seconds_per_metric_2000_samples": speed(),
        "elapsed_s": time.perf_counter() - started,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "workers": args.workers,
        },
    }
    if not args.quick:
        write_json_atomic(RESULTS, report)
    print_tables(report)
    return 0


def print_tables(report: dict[str, Any]) -> None:
    def cell(row: dict[str, Any]) -> str:
        return f"{row['rate']:7.2%} [{row['low']:.2%}, {row['high']:.2%}]"

    print("(a) default metrics, share of run pairs flagged (95% interval)")
    family = report["default_metrics"]
    sizes = sorted({row["samples"] for row in family})
    print(f"{'scenario':<26}" + "".join(f"{'n=' + format(n, ','):>26}" for n in sizes))
    for effect in ("none", "uniform", "tail", "errors"):
        rows = {row["samples"]: row for row in family if row["effect"] == effect}
        print(f"{label(effect):<26}" + "".join(f"{cell(rows[n]):>26}" for n in sizes))
    print("\n(b) e2e_s.p99 alone, share flagged")
    shapes = report["e2e_p99_alone"]
    sizes = sorted({row["samples"] for row in shapes})
    print(f"{'shape / scenario':<40}" + "".join(f"{'n=' + format(n, ','):>12}" for n in sizes))
    for name in dict.fromkeys(row["shape"] for row in shapes):
        for effect in ("none", "uniform", "tail"):
            rows = {r["samples"]: r for r in shapes if r["shape"] == name and r["effect"] == effect}
            print(
                f"{name + ', ' + label(effect):<40}"
                + "".join(f"{rows[n]['rate']:>12.2%}" for n in sizes)
            )
    timings = ", ".join(
        f"{k} {v:.3f} s" for k, v in report["seconds_per_metric_2000_samples"].items()
    )
    print(f"\nseconds per metric, 2,000 samples per run: {timings}")
    print_targets(family)
    print(f"elapsed {report['elapsed_s']:.0f} s")


def print_targets(family: list[dict[str, Any]]) -> None:
    """The targets at the default sample size, and the smallest size that meets each."""
    print(f"\ntargets at n={DEFAULT_SAMPLES:,} per run (default metrics):")
    for effect, target in (
        ("none", FALSE_ALARM_TARGET),
        ("uniform", DETECTION_TARGET),
        ("tail", DETECTION_TARGET),
        ("errors", DETECTION_TARGET),
    ):
        rows = sorted((r for r in family if r["effect"] == effect), key=lambda r: r["samples"])
        met = [
            r["samples"]
            for r in rows
            if (r["rate"] <= target if effect == "none" else r["rate"] >= target)
        ]
        at_default = next(r for r in rows if r["samples"] == DEFAULT_SAMPLES)
        goal = f"<= {target:.0%}" if effect == "none" else f">= {target:.0%}"
        status = "met" if DEFAULT_SAMPLES in met else "NOT met"
        smallest = f"; met from n={met[0]:,}" if met and status != "met" else ""
        print(
            f"  {label(effect):<24} {at_default['rate']:7.2%} (target {goal}): {status}{smallest}"
        )


def label(effect: str) -> str:
    return {
        "none": "A/A (false alarms)",
        "uniform": "all latencies x1.10",
        "tail": "tail only, p99 +10%",
        "errors": "failures 0.5% -> 2%",
    }[effect]


if __name__ == "__main__":
    sys.exit(main())
