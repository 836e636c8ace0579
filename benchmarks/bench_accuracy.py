"""How good an instrument ``slokit bench`` is: the rate it sustains on schedule, and how close
its TTFT/TPOT come to what a server really did.

The emulator runs in a process of its own with known, fixed delays; the runner drives it:

(a) open loop at 1,000 requests/s for ~10 s (Poisson and constant arrivals, short replies):
    achieved rate, schedule lag p50/p99/max, errors, processes used;
(b) streamed replies with TTFT 50 ms and ITL 10 ms at a moderate rate: the error of the
    measured TTFT and TPOT against those delays (mean absolute, p50, p99).

Run: ``.venv/bin/python benchmarks/bench_accuracy.py``; it writes
benchmarks/results/bench_accuracy.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from slokit.bench import BenchRequest, ClientConfig, OpenLoop, RunResult, run
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process
from slokit.results import write_json_atomic

RESULTS = Path(__file__).parent / "results" / "bench_accuracy.json"
LAG_TARGET_S = 0.005
ACCURACY_TARGET_S = 0.001


def arrivals(kind: str, rate_per_s: float, duration_s: float, seed: int) -> list[float]:
    if kind == "constant":
        return [index / rate_per_s for index in range(int(rate_per_s * duration_s))]
    rng = random.Random(seed)
    times, now_s = [], 0.0
    while (now_s := now_s + rng.expovariate(rate_per_s)) < duration_s:
        times.append(now_s)
    return times


def requests(times: list[float], *, stream: bool, max_tokens: int) -> list[BenchRequest]:
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": "Say something short."}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    return [BenchRequest(scheduled_s=time_s, endpoint="chat", body=body) for time_s in times]


def rate_row(name: str, result: RunResult, planned: list[float]) -> dict[str, Any]:
    sent = np.array([record.sent_s for record in result.records])
    span_s = float(sent.max() - sent.min()) if sent.size > 1 else 0.0
    return {
        "scenario": name,
        "requests": len(result.records),
        "planned_rate_per_s": len(planned) / planned[-1] if planned else 0.0,
        "achieved_rate_per_s": (sent.size - 1) / span_s if span_s else 0.0,
        "lag_p50_ms": result.lag.p50_s * 1e3,
        "lag_p99_ms": result.lag.p99_s * 1e3,
        "lag_max_ms": result.lag.max_s * 1e3,
        "errors": sum(1 for record in result.records if not record.ok),
        "processes": result.processes,
        "max_in_flight": result.max_in_flight,
        "lag_p99_target_met": result.lag.p99_s <= LAG_TARGET_S,
    }


def error_stats(errors_s: list[float]) -> dict[str, float]:
    values = np.array(errors_s)
    absolute = np.abs(values)
    return {
        "mean_abs_ms": float(absolute.mean() * 1e3),
        "p50_ms": float(np.percentile(values, 50) * 1e3),
        "p99_abs_ms": float(np.percentile(absolute, 99) * 1e3),
        "max_abs_ms": float(absolute.max() * 1e3),
    }


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    timing = FixedTiming(ttft_s=0.002, itl_s=0.001, output_tokens=4)
    rows = []
    with run_emulator_process(EmulatorConfig(timing=timing)) as base_url:
        client = ClientConfig(base_url=base_url)
        load = OpenLoop(
            processes=args.processes if args.processes == "auto" else int(args.processes)
        )
        for kind, stream in (("poisson", False), ("constant", False), ("poisson", True)):
            planned = arrivals(kind, args.rate, args.duration, seed=7)
            result = run(requests(planned, stream=stream, max_tokens=4), client, load)
            name = f"{kind} {args.rate:.0f}/s {'streamed 4 tokens' if stream else 'non-streamed'}"
            rows.append(rate_row(name, result, planned))
    return rows


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    ttft_s, itl_s, tokens = 0.050, 0.010, 16
    timing = FixedTiming(ttft_s=ttft_s, itl_s=itl_s, output_tokens=tokens)
    with run_emulator_process(EmulatorConfig(timing=timing)) as base_url:
        planned = arrivals("poisson", args.accuracy_rate, args.accuracy_duration, seed=11)
        result = run(
            requests(planned, stream=True, max_tokens=tokens),
            ClientConfig(base_url=base_url),
            OpenLoop(),
        )
    ok = [record for record in result.records if record.ok]
    ttft = [record.ttft_s - ttft_s for record in ok if record.ttft_s is not None]
    tpot = [record.tpot_s - itl_s for record in ok if record.tpot_s is not None]
    itl = [gap - itl_s for record in ok for gap in record.itl_s]
    report = {
        "server": {"ttft_ms": ttft_s * 1e3, "itl_ms": itl_s * 1e3, "output_tokens": tokens},
        "requests": len(result.records),
        "errors": len(result.records) - len(ok),
        "rate_per_s": args.accuracy_rate,
        "ttft_error": error_stats(ttft),
        "tpot_error": error_stats(tpot),
        "itl_error": error_stats(itl),
    }
    report["targets_met"] = {
        "ttft_mean_abs_within_1ms": report["ttft_error"]["mean_abs_ms"] <= ACCURACY_TARGET_S * 1e3,
        "tpot_mean_abs_within_1ms": report["tpot_error"]["mean_abs_ms"] <= ACCURACY_TARGET_S * 1e3,
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s for (a)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run in (a)")
    parser.add_argument("--processes", default="auto", help="'auto' or a number")
    parser.add_argument("--accuracy-rate", type=float, default=50.0)
    parser.add_argument("--accuracy-duration", type=float, default=6.0)
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    rows = throughput(args)
    report = accuracy(args)
    write_json_atomic(
        RESULTS,
        {
            "machine": {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                # Other work on the machine shows up as lag and error: say how busy it was.
                "load_average_1m_before": load_before,
                "load_average_1m_after": os.getloadavg()[0],
            },
            "throughput": rows,
            "accuracy": report,
        },
    )
    print(
        f"{'scenario':40} {'req':>6} {'rate/s':>8} {'lag p50':>8} {'p99':>7} {'max':>7} "
        f"{'err':>4} {'proc':>4}"
    )
    for row in rows:
        print(
            f"{row['scenario']:40} {row['requests']:6d} {row['achieved_rate_per_s']:8.0f} "
            f"{row['lag_p50_ms']:7.2f}ms {row['lag_p99_ms']:5.2f}ms {row['lag_max_ms']:5.1f}ms "
            f"{row['errors']:4d} {row['processes']:4d}"
        )
    print(f"\naccuracy vs server (TTFT 50 ms, ITL 10 ms, {report['requests']} streamed requests)")
    print(f"{'metric':6} {'mean |err|':>11} {'p50 err':>9} {'p99 |err|':>10} {'max |err|':>10}")
    for metric in ("ttft", "tpot", "itl"):
        stats = report[f"{metric}_error"]
        print(
            f"{metric:6} {stats['mean_abs_ms']:9.3f}ms {stats['p50_ms']:7.3f}ms "
            f"{stats['p99_abs_ms']:8.3f}ms {stats['max_abs_ms']:8.3f}ms"
        )
    load_after = os.getloadavg()[0]
    print(f"\nload average before/after: {load_before:.2f}/{load_after:.2f}, {os.cpu_count()} CPUs")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
