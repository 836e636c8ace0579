"""Does the emulator keep a profile's timing under load? Measured against ``slokit.sim``.

The emulator serves a profile in a process of its own; ``slokit.bench`` loads it with

(a) a burst: 100 streams sent at once;
(b) Poisson arrivals at a rate that keeps about as many streams open (40/s: the simulator
    predicts 98 on average with the example profile), with lognormal prompt and reply lengths
    and shared system prompts (so the prefix cache is in play).

Each request's TTFT, TPOT and E2E as the client measured them are compared with what
``slokit.sim.simulate`` predicts for the same requests arriving at the client's send times. The
emulator's own log (``/timings``) splits that error into two parts. The model part compares
when the emulator made each token due with the simulator, given the arrival times the emulator
saw. The real-clock part is how late each token was written after it was due. The emulator's
CPU time per token comes from ``/stats``.

Run: ``.venv/bin/python benchmarks/emulator_streams.py``; it writes
benchmarks/results/emulator_streams.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from slokit.bench import BenchRequest, ClientConfig, OpenLoop, RunResult, run
from slokit.emulate import EmulatorConfig, ProfileTiming, run_emulator_process
from slokit.results import RequestRecord, write_json_atomic
from slokit.sim import Profile, simulate
from slokit.sim.profiles import load_profile
from slokit.workload import (
    FixedTokens,
    LognormalTokens,
    PoissonArrivals,
    RequestPlan,
    SharedPrefix,
    Workload,
)

RESULTS = Path(__file__).parent / "results" / "emulator_streams.json"
#: "Errors of a few ms at most": the p99 absolute error of TTFT and E2E the run must stay under.
TARGET_P99_ABS_S = 0.005
MODEL = "bench"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    plan: RequestPlan


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    burst = Workload(
        arrivals=PoissonArrivals(rate_per_s=1e9),  # all 100 within microseconds of 0
        prompt_tokens=FixedTokens(tokens=256),
        output_tokens=FixedTokens(tokens=args.burst_output_tokens),
        count=args.streams,
        seed=1,
    )
    poisson = Workload(
        arrivals=PoissonArrivals(rate_per_s=args.rate),
        prompt_tokens=LognormalTokens(mean_tokens=256, cv=0.5, max_tokens=4096),
        output_tokens=LognormalTokens(mean_tokens=128, cv=0.5, max_tokens=1024),
        duration_s=args.duration,
        shared_prefix=SharedPrefix(groups=4, prefix_tokens=256, fraction=0.5),
        seed=2,
    )
    return [
        Scenario(f"burst: {args.streams} streams at once", burst.plan()),
        Scenario(f"poisson: {args.rate:g}/s for {args.duration:g} s", poisson.plan()),
    ]


def requests(plan: RequestPlan) -> list[BenchRequest]:
    built = []
    for request in plan.requests():
        body = {
            "model": MODEL,
            "messages": request.messages(),
            "max_tokens": request.output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "user": str(request.request_id),
        }
        built.append(BenchRequest(scheduled_s=request.arrival_s, endpoint="chat", body=body))
    return built


def get_json(base_url: str, path: str) -> Any:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + path, timeout=30) as response:
        return orjson.loads(response.read())


def predict(
    profile: Profile, replicas: int, plan: RequestPlan, arrival_s: np.ndarray, prompt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's first-token and end times for the plan's requests at ``arrival_s``."""
    order = np.argsort(arrival_s, kind="stable")
    groups = plan.group_id[order]
    result = simulate(
        profile=profile,
        replicas=replicas,
        arrival_s=arrival_s[order],
        prompt_tokens=prompt[order],
        output_tokens=plan.output_tokens[order],
        prefix_group=groups,
        prefix_tokens=np.where(groups >= 0, plan.prefix_tokens[order], 0),
    )
    first, end = np.empty_like(arrival_s), np.empty_like(arrival_s)
    first[order], end[order] = result.first_token_s, result.end_s
    return first, end


def error_stats(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = measured - predicted
    absolute = np.abs(error)
    relative = absolute / predicted
    return {
        "median_error_ms": float(np.median(error) * 1e3),
        "median_abs_ms": float(np.median(absolute) * 1e3),
        "p99_abs_ms": float(np.percentile(absolute, 99) * 1e3),
        "max_abs_ms": float(absolute.max() * 1e3),
        "median_rel": float(np.median(relative)),
        "p99_rel": float(np.percentile(relative, 99)),
        "predicted_median_ms": float(np.median(predicted) * 1e3),
    }


def metrics(
    start_s: np.ndarray, first_s: np.ndarray, end_s: np.ndarray, tokens: np.ndarray
) -> dict[str, np.ndarray]:
    many = tokens > 1
    return {
        "ttft": first_s - start_s,
        "tpot": (end_s[many] - first_s[many]) / (tokens[many] - 1),
        "e2e": end_s - start_s,
    }


def compare(
    records: list[RequestRecord],
    *,
    result: RunResult,
    replies: dict[str, dict[str, Any]],
    plan: RequestPlan,
    profile: Profile,
    replicas: int,
) -> dict[str, Any]:
    ok = [r for r in records if r.ok and r.first_token_s is not None]
    if len(ok) != len(records):
        raise SystemExit(f"{len(records) - len(ok)} requests failed; the comparison needs all")
    tokens = np.array([r.output_tokens for r in ok])
    if not np.array_equal(tokens, plan.output_tokens):
        raise SystemExit("replies did not have the planned lengths")
    prompt = np.array([r.prompt_tokens for r in ok], dtype=np.int64)
    received_s = np.array([r.first_token_s for r in ok]), np.array([r.end_s for r in ok])
    # The client's view against the simulator fed the client's send times: everything,
    # connection set-up and the client's own delays included.
    sent = np.array([r.sent_s for r in ok])
    first, end = predict(profile, replicas, plan, sent, prompt)
    measured = metrics(sent, *received_s, tokens)
    expected = metrics(sent, first, end, tokens)
    at_send = {name: error_stats(measured[name], expected[name]) for name in measured}
    # Against the simulator fed the times the requests reached the emulator: the emulator's
    # error plus the way back to the client.
    logged = [replies[str(index)] for index in range(len(ok))]
    arrived = np.array([reply["arrival_s"] for reply in logged]) - result.start_s
    first, end = predict(profile, replicas, plan, arrived, prompt)
    measured = metrics(arrived, *received_s, tokens)
    expected = metrics(arrived, first, end, tokens)
    at_arrival = {name: error_stats(measured[name], expected[name]) for name in measured}
    # The emulator's own account: its due times against the simulator, and how late it wrote.
    due_first = np.array([reply["due_s"][0] for reply in logged]) - result.start_s
    due_end = np.array([reply["due_s"][-1] for reply in logged]) - result.start_s
    lateness = np.concatenate([np.subtract(reply["token_s"], reply["due_s"]) for reply in logged])
    server = {
        "model_vs_sim_max_abs_us": float(
            max(np.abs(due_first - first).max(), np.abs(due_end - end).max()) * 1e6
        ),
        "write_lateness_ms": {
            "median": float(np.median(lateness) * 1e3),
            "p99": float(np.percentile(lateness, 99) * 1e3),
            "max": float(lateness.max() * 1e3),
        },
        "send_to_arrival_ms": {
            "median": float(np.median(arrived - sent) * 1e3),
            "p99": float(np.percentile(arrived - sent, 99) * 1e3),
        },
    }
    return {
        "client_vs_sim_at_send": at_send,
        "client_vs_sim_at_arrival": at_arrival,
        "emulator": server,
    }


def run_scenario(
    scenario: Scenario, base_url: str, profile: Profile, replicas: int
) -> dict[str, Any]:
    before = get_json(base_url, "/stats")
    result = run(requests(scenario.plan), ClientConfig(base_url=base_url), OpenLoop())
    after = get_json(base_url, "/stats")
    replies = {reply["user"]: reply for reply in get_json(base_url, "/timings")["replies"]}
    records = sorted(result.records, key=lambda record: record.request_id)
    tokens = after["tokens"] - before["tokens"]
    row = {
        "scenario": scenario.name,
        "requests": len(records),
        "output_tokens": tokens,
        "max_in_flight": result.max_in_flight,
        "duration_s": result.duration_s,
        "lag_p99_ms": result.lag.p99_s * 1e3,
        "emulator_cpu_s": after["cpu_s"] - before["cpu_s"],
        "emulator_cpu_per_token_us": (after["cpu_s"] - before["cpu_s"]) / tokens * 1e6,
        **compare(
            records,
            result=result,
            replies=replies,
            plan=scenario.plan,
            profile=profile,
            replicas=replicas,
        ),
    }
    for view in ("at_send", "at_arrival"):
        client = row[f"client_vs_sim_{view}"]
        row[f"target_met_{view}"] = all(
            client[name]["p99_abs_ms"] <= TARGET_P99_ABS_S * 1e3 for name in ("ttft", "tpot", "e2e")
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="example", help="profile file or shipped name")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--streams", type=int, default=100, help="streams of the burst")
    parser.add_argument("--burst-output-tokens", type=int, default=128)
    parser.add_argument("--rate", type=float, default=40.0, help="Poisson requests/s")
    parser.add_argument("--duration", type=float, default=12.0, help="Poisson run, seconds")
    args = parser.parse_args()

    profile = load_profile(args.profile)
    timing = ProfileTiming(profile=profile, replicas=args.replicas)
    config = EmulatorConfig(timing=timing, served_model=MODEL, timing_log=100_000)
    load_before = os.getloadavg()[0]
    planned = scenarios(args)
    with run_emulator_process(config) as base_url:
        # The first replies pay for imports and first calls on both sides: not what is measured.
        run(requests(planned[0].plan)[:4], ClientConfig(base_url=base_url), OpenLoop())
        rows = [run_scenario(scenario, base_url, profile, args.replicas) for scenario in planned]
    load_after = os.getloadavg()[0]
    write_json_atomic(
        RESULTS,
        {
            "machine": {
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                # Other work on the machine shows up as lateness: say how busy it was.
                "load_average_1m_before": load_before,
                "load_average_1m_after": load_after,
            },
            "profile": profile.to_json(),
            "replicas": args.replicas,
            "target_p99_abs_ms": TARGET_P99_ABS_S * 1e3,
            "scenarios": rows,
        },
    )
    print_table(rows, profile, load_before, load_after)


def print_table(
    rows: list[dict[str, Any]], profile: Profile, load_before: float, load_after: float
) -> None:
    print(f"profile {profile.model}: client-measured TTFT/TPOT/E2E vs slokit.sim")
    views = (("at_send", "sim fed client send times"), ("at_arrival", "sim fed emulator arrivals"))
    for row in rows:
        print(
            f"\n{row['scenario']}: {row['requests']} requests, up to {row['max_in_flight']} "
            f"streams at once, {row['output_tokens']} tokens in {row['duration_s']:.1f} s"
        )
        for view, label in views:
            print(
                f"  {label:26} {'predicted':>10} {'med |err|':>10} {'p99 |err|':>10} "
                f"{'max |err|':>10} {'med rel':>8} {'p99 rel':>8}"
            )
            for name, stats in row[f"client_vs_sim_{view}"].items():
                print(
                    f"  {name:26} {stats['predicted_median_ms']:8.2f}ms "
                    f"{stats['median_abs_ms']:8.3f}ms {stats['p99_abs_ms']:8.3f}ms "
                    f"{stats['max_abs_ms']:8.3f}ms {stats['median_rel'] * 100:7.2f}% "
                    f"{stats['p99_rel'] * 100:7.2f}%"
                )
        server = row["emulator"]
        late, network = server["write_lateness_ms"], server["send_to_arrival_ms"]
        print(
            f"  emulator: due times vs sim {server['model_vs_sim_max_abs_us']:.3f} us max; "
            f"written after due: median {late['median']:.3f} ms, p99 {late['p99']:.3f} ms, "
            f"max {late['max']:.3f} ms"
        )
        print(
            f"  client send -> emulator arrival: median {network['median']:.3f} ms, p99 "
            f"{network['p99']:.3f} ms; emulator CPU {row['emulator_cpu_per_token_us']:.1f} "
            f"us/token; p99 |err| <= {TARGET_P99_ABS_S * 1e3:g} ms: "
            + ", ".join(
                f"{label} {'met' if row[f'target_met_{view}'] else 'MISSED'}"
                for view, label in views
            )
        )
    print(f"\nload average before/after: {load_before:.2f}/{load_after:.2f}, {os.cpu_count()} CPUs")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
