"""How well a calibrated simulator predicts a real server: llama.cpp serving SmolLM2-135M.

Starts the local llama.cpp server, calibrates a profile against it (``slokit calibrate``'s
probes and fit), measures its capacity with a burst of the workload's requests, then at 30%,
70% and 95% of that capacity sends Poisson load with slokit's bench and simulates the very same
requests (same seeded arrivals, prompt and output lengths) with the calibrated profile. Compares
p50 and p99 of TTFT and E2E; the target is every error within 10%. Writes
``benchmarks/results/sim_fidelity.json`` (with the load average of the shared machine at each
step) and prints a table.

On a machine shared with other work the server's speed follows the machine's load, which can
double or halve within minutes; ``--recalibrate`` then calibrates again (a shorter plan) just
before each load level, so that each prediction uses the machine state it is compared with.

    .venv/bin/python benchmarks/sim_fidelity.py [--requests 100,150,200] [--loads 0.3,0.7,0.95]
        [--recalibrate]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from slokit.backends.local import LocalModelConfig, LocalModelServer, default_threads
from slokit.bench import OpenLoop, run
from slokit.bench.benchmark import BenchSettings, build_requests
from slokit.bench.calibrate import CalibrationPlan, measure_endpoint
from slokit.bench.client import BenchRequest
from slokit.results.record import RequestRecord
from slokit.sim import Profile, simulate
from slokit.sim.calibrate import Calibration, fit_profile
from slokit.workload import LognormalTokens, PoissonArrivals, RequestPlan, Workload

RESULTS = Path(__file__).parent / "results" / "sim_fidelity.json"
PROMPT = LognormalTokens(mean_tokens=32, cv=0.6, min_tokens=4, max_tokens=256)
OUTPUT = LognormalTokens(mean_tokens=16, cv=0.6, min_tokens=2, max_tokens=96)
TARGET_ERROR = 0.10
CAPACITY_BURST = 40


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def workload(rate: float, count: int, seed: int) -> RequestPlan:
    return Workload(
        arrivals=PoissonArrivals(rate_per_s=rate),
        prompt_tokens=PROMPT,
        output_tokens=OUTPUT,
        count=count,
        seed=seed,
    ).plan()


def requests(plan: RequestPlan, settings: BenchSettings) -> list[BenchRequest]:
    """Bench requests; each asks the server to keep going until its planned length."""
    return [
        BenchRequest(
            scheduled_s=request.scheduled_s,
            endpoint=request.endpoint,
            body={**request.body, "min_tokens": request.body["max_tokens"]},
        )
        for request in build_requests(plan, settings)
    ]


def measured(records: Sequence[RequestRecord]) -> dict[str, np.ndarray]:
    ok = [r for r in records if r.ok and r.ttft_s is not None]
    return {
        "ttft_s": np.array([r.ttft_s for r in ok], dtype=np.float64),
        "e2e_s": np.array([r.e2e_s for r in ok], dtype=np.float64),
    }


def predicted(profile: Profile, plan: RequestPlan) -> dict[str, np.ndarray]:
    result = simulate(
        profile=profile,
        replicas=1,
        arrival_s=plan.arrival_s,
        prompt_tokens=plan.prompt_tokens,
        output_tokens=plan.output_tokens,
    )
    return {"ttft_s": result.ttft_s, "e2e_s": result.e2e_s}


def compare(real: dict[str, np.ndarray], sim: dict[str, np.ndarray]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for metric in ("ttft_s", "e2e_s"):
        for quantile in (50, 99):
            real_value = float(np.percentile(real[metric], quantile))
            sim_value = float(np.percentile(sim[metric], quantile))
            rows[f"{metric.removesuffix('_s')}_p{quantile}"] = {
                "real_s": real_value,
                "sim_s": sim_value,
                "error": (sim_value - real_value) / real_value,
            }
    return rows


def calibrate(base_url: str, model: str, seed: int, *, short: bool = False) -> Calibration:
    settings = BenchSettings(base_url=base_url, model=model)
    plan = CalibrationPlan(
        prompt_lengths=(8, 16, 32, 64, 128) if short else (8, 16, 32, 64, 128, 256),
        repeats=2 if short else 3,
        output_tokens=16 if short else 32,
        max_concurrency=2,
        context_probe_tokens=0 if short else CalibrationPlan().context_probe_tokens,
        seed=seed,
    )
    return fit_profile(measure_endpoint(settings.client(), model, plan))


def capacity(settings: BenchSettings, profile: Profile, seed: int) -> dict[str, float]:
    """Requests per second with the server never idle: a burst of the workload sent at once."""
    plan = workload(1000.0, CAPACITY_BURST, seed)
    burst = [
        BenchRequest(scheduled_s=0.0, endpoint=r.endpoint, body=r.body)
        for r in requests(plan, settings)
    ]
    result = run(burst, settings.client(), OpenLoop())
    served = [r for r in result.records if r.ok]
    real = len(served) / (max(r.end_s for r in served) - min(r.sent_s for r in served))
    simulated = simulate(
        profile=profile,
        replicas=1,
        arrival_s=np.zeros(CAPACITY_BURST),
        prompt_tokens=plan.prompt_tokens,
        output_tokens=plan.output_tokens,
    )
    return {"real_per_s": real, "sim_per_s": CAPACITY_BURST / simulated.duration_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", default="0.3,0.7,0.95", help="shares of the capacity")
    parser.add_argument("--requests", default="100,150,200", help="requests at each load")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--recalibrate", action="store_true", help="calibrate again before each load level"
    )
    args = parser.parse_args()
    loads = [float(part) for part in args.loads.split(",")]
    counts = [int(part) for part in args.requests.split(",")]
    steps: list[dict[str, Any]] = []
    started = time.monotonic()
    with LocalModelServer(LocalModelConfig()) as server:
        settings = BenchSettings(base_url=server.base_url, model=server.model)
        before = load_average()
        calibration = calibrate(server.base_url, server.model, args.seed)
        profile = calibration.profile
        steps.append({"step": "calibrate", "load_average": [before, load_average()]})
        print(f"calibrated in {time.monotonic() - started:.0f} s: {profile.to_json()}")
        before = load_average()
        rates = capacity(settings, profile, args.seed)
        steps.append({"step": "capacity", "load_average": [before, load_average()], **rates})
        print(f"capacity: real {rates['real_per_s']:.3f}/s, sim {rates['sim_per_s']:.3f}/s")
        levels = []
        for index, (share, count) in enumerate(zip(loads, counts, strict=True)):
            rate = share * rates["real_per_s"]
            plan = workload(rate, count, args.seed + 1 + index)
            before = load_average()
            if args.recalibrate:
                seed = args.seed + 100 + index
                profile = calibrate(server.base_url, server.model, seed, short=True).profile
            result = run(requests(plan, settings), settings.client(), OpenLoop())
            real = measured(result.records)
            short = sum(
                1
                for record, planned in zip(result.records, plan.output_tokens, strict=True)
                if record.output_tokens != planned
            )
            rows = compare(real, predicted(profile, plan))
            level = {
                "load": share,
                "rate_per_s": rate,
                "requests": count,
                "failed": sum(1 for r in result.records if not r.ok),
                "output_length_mismatches": short,
                "duration_s": result.duration_s,
                "load_average": [before, load_average()],
                "profile": profile.to_json(),
                "metrics": rows,
            }
            levels.append(level)
            print(
                f"load {share:.0%}: " + ", ".join(f"{k} {v['error']:+.1%}" for k, v in rows.items())
            )
    document = {
        "benchmark": "sim_fidelity",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "llama_threads": default_threads(),
        },
        "workload": {"prompt_tokens": PROMPT.spec, "output_tokens": OUTPUT.spec},
        "target_error": TARGET_ERROR,
        "recalibrate": args.recalibrate,
        "calibration": calibration.to_json(),
        "steps": steps,
        "levels": levels,
        "worst_error": max(abs(m["error"]) for lv in levels for m in lv["metrics"].values()),
        "wall_s": time.monotonic() - started,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print_table(levels)
    print(f"\nwrote {RESULTS}")


def print_table(levels: list[dict[str, Any]]) -> None:
    print(f"\n{'load':>5} {'rate/s':>7} {'metric':>9} {'real':>9} {'sim':>9} {'error':>8}")
    for level in levels:
        for name, row in level["metrics"].items():
            flag = "" if abs(row["error"]) <= TARGET_ERROR else "  > 10%"
            print(
                f"{level['load']:>5.0%} {level['rate_per_s']:>7.3f} {name:>9} "
                f"{row['real_s']:>8.3f}s {row['sim_s']:>8.3f}s {row['error']:>+8.1%}{flag}"
            )


if __name__ == "__main__":
    main()
