"""Difficulty routing through ``slokit serve``: two local backends of different cost, on and off.

Backends: ``cheap`` is the local SmolLM2-135M (llama.cpp on this CPU), priced as a small
self-hosted model; ``big`` is slokit's emulator playing the shipped ``llama-3-70b-4xh100-vllm``
profile, priced as a hosted 70B model (prices below, US dollars per million tokens). The
router (MiniLM's static distillation + the ``subject`` light model, the pair that fits a
request path: docs/routing.md) is trained on the seeded 70% of mmlu_dev.jsonl that
routing_quality.py trains on, its threshold calibrated to send half the questions to ``big``.
The other 30% are the requests: the same seeded Poisson arrivals go through the gateway once
as ``model: "big"`` (routing off: everything to the strong model) and once as ``model: "auto"``.

Reported per run: cost per request (the gateway's price table applied to the upstreams'
usage, from its request log), throughput, goodput (requests meeting the SLO per second), SLO
attainment, E2E p50/p99, the share sent to ``big``, the MMLU accuracy those choices imply
(weak_correct / strong_correct of each question: what the answers would score with the real
Mixtral-8x7B / GPT-4 pair the labels come from), and the routing overhead: the route stage's
own time per request, embedding included (``route_s`` in the request log), p50 and p99.
The local model and the gateway share this machine's two cores, which a deployment would not
do: the model's threads run at niceness 10 (``--nice-model``) so that the gateway is not
preempted by them.
Runs are written as bench runs under benchmarks/results/routing_gateway/, figures to
benchmarks/results/routing_gateway.json. From the repository root:
``.venv/bin/python benchmarks/routing_gateway.py`` (about 3 minutes; ``--requests 40`` to smoke).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from gateway_overload import free_port, process, wait_ready
from gateway_runs import PoissonRun, add_run_options, local_model, poisson_run
from slokit import __version__ as slokit_version
from slokit.embedding import StaticMiniLMEmbedder
from slokit.results import iter_records, write_json_atomic
from slokit.routing import (
    STRONG,
    WEAK,
    StrongShare,
    TrainConfig,
    load_labelled,
    save_router,
    train_router,
)
from slokit.slo import parse_slo

ROOT = Path(__file__).parent / "results"
RESULTS = ROOT / "routing_gateway.json"
RUNS = ROOT / "routing_gateway"
DATA = Path(__file__).parents[2] / "shared" / "data" / "routing" / "mmlu_dev.jsonl"
STRONG_PROFILE = "llama-3-70b-4xh100-vllm"
#: US dollars per million tokens, input and output: a small self-hosted model and a hosted 70B.
PRICES = {"cheap": (0.02, 0.02), "big": (0.90, 0.90)}


@contextlib.contextmanager
def strong_emulator(workdir: Path) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "slokit",
        "emulate",
        "--profile",
        STRONG_PROFILE,
        "--port",
        str(port),
        "--model",
        "big",
    ]
    with process(command, workdir / "emulator.log") as child:
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_ready(base_url, "big", child)
        yield base_url


def split(holdout: float, seed: int) -> tuple[Any, Any]:
    data = load_labelled(DATA)
    order = np.random.default_rng(seed).permutation(len(data))
    held = round(holdout * len(data))
    return data, (np.sort(order[held:]), np.sort(order[:held]))


def gateway_config(
    workdir: Path, router: Path, cheap_url: str, cheap_model: str, big_url: str
) -> Path:
    lines = ["models:"]
    for name, url, served in (("cheap", cheap_url, cheap_model), ("big", big_url, "big")):
        price_in, price_out = PRICES[name]
        lines += [
            f"  {name}:",
            f"    price: {{input: {price_in}, output: {price_out}}}",
            "    backends:",
            f"      - url: {url}",
            f"        model: {served}",
        ]
    lines += [
        "routes:",
        "  auto:",
        f"    router: {router}",
        "    fallback: big",
        "    models: {weak: cheap, strong: big}",
        "telemetry:",
        f"  request_log: {workdir / 'requests.jsonl'}",
    ]
    config = workdir / "gateway.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def one_run(
    base_url: str,
    model: str,
    prompts: list[str],
    *,
    correct: Any,
    args: argparse.Namespace,
    log: Path,
    skip: int,
) -> dict[str, Any]:
    plan = PoissonRun(
        model=model,
        max_tokens=args.max_tokens,
        rate_per_s=args.rate,
        seed=args.seed,
        slo=parse_slo(args.slo),
    )
    run_dir = RUNS / ("routing-on" if model == "auto" else "routing-off")
    _, figures = poisson_run(base_url, prompts, plan, run_dir, {"model": model})
    # The gateway numbers requests in arrival order: send order, after ``skip`` earlier ones.
    logged = sorted(iter_records(log), key=lambda r: r.request_id)[skip : skip + len(prompts)]
    served = [r.model for r in logged]
    strong = np.array([m == "big" for m in served])
    accuracy = np.where(strong, correct[:, 1], correct[:, 0]).mean()
    costs = [r.cost_usd for r in logged if r.cost_usd is not None]
    route_s = [float(r.annotations["route_s"]) for r in logged if "route_s" in r.annotations]
    return {
        **figures,
        "model": model,
        "cost_per_request_usd": float(np.sum(costs) / len(prompts)),
        "costed_requests": len(costs),
        "strong_share": float(strong.mean()),
        "implied_mmlu_accuracy": float(accuracy),
        "route_ms": None
        if not route_s
        else {
            "p50": float(np.percentile(route_s, 50) * 1e3),
            "p99": float(np.percentile(route_s, 99) * 1e3),
            "max": float(np.max(route_s) * 1e3),
            "n": len(route_s),
        },
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rate", type=float, default=3.0, help="Poisson arrivals per second")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--strong-share", type=float, default=0.5)
    add_run_options(parser)
    args = parser.parse_args()
    started_s = time.monotonic()
    data, (train, test) = split(0.3, 0)
    rows = test[: args.requests]
    prompts = [data.prompts[i] for i in rows]
    correct = np.stack([data.column(WEAK)[rows], data.column(STRONG)[rows]], axis=1)
    results: dict[str, Any] = {
        "benchmark": "routing_gateway",
        "slokit_version": slokit_version,
        "requests": len(prompts),
        "rate_per_s": args.rate,
        "slo": args.slo,
        "prices_usd_per_mtok": PRICES,
        "weak_only_accuracy": float(correct[:, 0].mean()),
        "strong_only_accuracy": float(correct[:, 1].mean()),
        "load_average_before": os.getloadavg(),
        "local_model_niceness": args.nice_model,
    }
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="slokit-route-")))
        config = TrainConfig(candidates=("subject",), target=StrongShare(share=args.strong_share))
        trained = train_router(data.take(train), StaticMiniLMEmbedder(), config)
        router = workdir / "router.json"
        save_router(trained.router, router)
        cheap = stack.enter_context(local_model(args.nice_model))
        big_url = stack.enter_context(strong_emulator(workdir))
        gateway = gateway_config(workdir, router, cheap.base_url, cheap.model, big_url)
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "slokit",
            "serve",
            "--config",
            str(gateway),
            "--port",
            str(port),
        ]
        child = stack.enter_context(process(command, workdir / "gateway.log"))
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_ready(base_url, "auto", child)  # also warms the router up
        log = workdir / "requests.jsonl"
        results["routing_off"] = one_run(
            base_url, "big", prompts, correct=correct, args=args, log=log, skip=1
        )
        skip = 1 + len(prompts)
        results["routing_on"] = one_run(
            base_url, "auto", prompts, correct=correct, args=args, log=log, skip=skip
        )
    off, on = results["routing_off"], results["routing_on"]
    results["cost_ratio_on_vs_off"] = on["cost_per_request_usd"] / off["cost_per_request_usd"]
    results["wall_s"] = time.monotonic() - started_s
    write_json_atomic(RESULTS, results)
    head = (
        f"{'run':<12} {'$/request':>10} {'thru/s':>7} {'good/s':>7} {'attain':>7} "
        f"{'p50 s':>6} {'p99 s':>6} {'strong':>7} {'MMLU acc':>8} {'route p50/p99 ms':>17}"
    )
    print(head)
    print("-" * len(head))
    for name in ("routing_off", "routing_on"):
        r = results[name]
        route = r["route_ms"]
        route_text = "-" if route is None else f"{route['p50']:.2f}/{route['p99']:.2f}"
        print(
            f"{name:<12} {r['cost_per_request_usd']:>10.2e} {r['throughput_per_s']:>7.2f} "
            f"{r['goodput_per_s']:>7.2f} {r['slo_attainment']:>7.1%} {r['e2e_p50_s']:>6.2f} "
            f"{r['e2e_p99_s']:>6.2f} {r['strong_share']:>7.1%} "
            f"{r['implied_mmlu_accuracy']:>8.3f} {route_text:>17}"
        )
    print(
        f"weak only {results['weak_only_accuracy']:.3f}, strong only "
        f"{results['strong_only_accuracy']:.3f}; cost with routing = "
        f"{results['cost_ratio_on_vs_off']:.0%} of without; {results['wall_s']:.0f} s; "
        f"wrote {RESULTS}"
    )


if __name__ == "__main__":
    main()
