"""How fast the simulator runs: a million requests through eight GPU-like replicas.

The workload is Poisson at 80% of the cluster's capacity, with lognormal prompt and output
lengths (means 1,000 and 250 tokens) and half of the requests sharing one of 200 system
prompts. Capacity is measured first, by saturating one replica with a sample of the same
requests. Writes ``benchmarks/results/sim_speed.json`` and prints a table. On a shared machine
the wall time depends on the other load; the CPU time (this process's) is the steadier figure.

    .venv/bin/python benchmarks/sim_speed.py [--requests N] [--replicas R] [--load 0.8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from slokit.sim import Profile, example_profile, simulate

RESULTS = Path(__file__).parent / "results" / "sim_speed.json"


def lognormal_tokens(
    rng: np.random.Generator, mean: float, sigma: float, count: int, cap: int
) -> NDArray[np.int64]:
    """Integer lengths from a lognormal with the given mean, clipped to ``[1, cap]``."""
    mu = np.log(mean) - sigma**2 / 2
    return np.clip(np.rint(rng.lognormal(mu, sigma, count)), 1, cap).astype(np.int64)


def shapes(rng: np.random.Generator, count: int) -> dict[str, NDArray[np.int64]]:
    """Prompt and output lengths, and shared system prompts for half of the requests."""
    prompt = lognormal_tokens(rng, 1000.0, 0.8, count, 16_000)
    output = lognormal_tokens(rng, 250.0, 0.8, count, 4_000)
    shared = rng.random(count) < 0.5
    group = np.where(shared, rng.integers(0, 200, count), -1)
    return {
        "prompt_tokens": prompt,
        "output_tokens": output,
        "prefix_group": group,
        "prefix_tokens": np.where(shared, np.minimum(prompt, 400), 0),
    }


def capacity_per_replica(profile: Profile, seed: int, sample: int = 20_000) -> float:
    """Requests per second one replica completes when saturated with this request mix."""
    rng = np.random.default_rng(seed)
    result = simulate(
        profile=profile, replicas=1, arrival_s=np.zeros(sample), **shapes(rng, sample)
    )
    return sample / result.duration_s


def percentile(values: NDArray[np.float64], q: float) -> float:
    return float(np.nanpercentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--load", type=float, default=0.8, help="fraction of cluster capacity")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    profile = example_profile()
    capacity = capacity_per_replica(profile, args.seed + 1) * args.replicas
    rate = args.load * capacity
    rng = np.random.default_rng(args.seed)
    arrival_s = np.cumsum(rng.exponential(1.0 / rate, args.requests))
    workload = shapes(rng, args.requests)

    started, started_cpu = time.perf_counter(), time.process_time()
    result = simulate(profile=profile, replicas=args.replicas, arrival_s=arrival_s, **workload)
    simulate_s = time.perf_counter() - started
    simulate_cpu_s = time.process_time() - started_cpu
    started = time.perf_counter()
    record_count = sum(1 for _ in result.records())
    records_s = time.perf_counter() - started

    ok = result.outcome == 0
    output = result.output_tokens
    tpot_s = (result.e2e_s - result.ttft_s)[ok & (output > 1)] / (output[ok & (output > 1)] - 1)
    summary = result.summary()
    report: dict[str, Any] = {
        "requests": args.requests,
        "replicas": args.replicas,
        "profile": profile.to_json(),
        "capacity_requests_per_s": capacity,
        "offered_requests_per_s": rate,
        "wall_s": simulate_s,
        "requests_per_wall_s": args.requests / simulate_s,
        "cpu_s": simulate_cpu_s,
        "requests_per_cpu_s": args.requests / simulate_cpu_s,
        "records_wall_s": records_s,
        "records": record_count,
        "simulated_s": result.duration_s,
        "completed": summary["completed"],
        "ttft_p50_s": percentile(result.ttft_s, 50),
        "ttft_p99_s": percentile(result.ttft_s, 99),
        "tpot_p50_s": percentile(tpot_s, 50),
        "tpot_p99_s": percentile(tpot_s, 99),
        "e2e_p50_s": percentile(result.e2e_s, 50),
        "utilization_mean": float(np.mean([r.utilization for r in result.replicas])),
        "preemptions": sum(r.preemptions for r in result.replicas),
        "prefix_hit_tokens": sum(r.prefix_hit_tokens for r in result.replicas),
        "cost": result.cost,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    rows = [
        ("requests", f"{args.requests:,}"),
        ("replicas", f"{args.replicas}"),
        ("offered rate", f"{rate:,.1f} req/s ({args.load:.0%} of {capacity:,.1f})"),
        ("simulated time", f"{result.duration_s:,.0f} s"),
        ("wall time (simulate)", f"{simulate_s:,.1f} s"),
        ("throughput", f"{args.requests / simulate_s:,.0f} requests/s of wall time"),
        ("CPU time (simulate)", f"{simulate_cpu_s:,.1f} s"),
        ("throughput (CPU)", f"{args.requests / simulate_cpu_s:,.0f} requests/s of CPU time"),
        ("wall time (records)", f"{records_s:,.1f} s for {record_count:,} RequestRecords"),
        (
            "TTFT p50 / p99",
            f"{report['ttft_p50_s'] * 1e3:,.0f} / {report['ttft_p99_s'] * 1e3:,.0f} ms",
        ),
        (
            "TPOT p50 / p99",
            f"{report['tpot_p50_s'] * 1e3:,.1f} / {report['tpot_p99_s'] * 1e3:,.1f} ms",
        ),
        ("utilisation (mean)", f"{report['utilization_mean']:.1%}"),
        ("preemptions", f"{report['preemptions']:,}"),
        ("cost", f"{result.cost:,.2f}"),
        ("load average", ", ".join(f"{x:.1f}" for x in os.getloadavg())),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
