"""The cache through ``slokit serve`` in front of the local model: 30% paraphrased repeats.

Workload: questions from the evaluation half of qqp_dev.jsonl (the half the calibration never
saw, split as in cache_quality.py). 70% of the requests are distinct questions; 30% are
paraphrases of a question asked earlier in the run (the other side of a label-1 pair). The
same seeded requests go, as Poisson arrivals, through the gateway to the local SmolLM2 model
twice: without the cache stage, and with it (exact + semantic, the 1% false-hit calibration
that cache_quality.py wrote to benchmarks/results/cache_quality.json, all-MiniLM-L6-v2;
``store_length_limited``, since most of the model's 16-token answers stop at the limit).

Reported per run: throughput, goodput (requests meeting the SLO per second), SLO attainment,
E2E p50/p99, model calls (requests the upstream served), hits, and hits on first-time
questions: those have no earlier duplicate in the run, so every such hit is a false hit (an
upper bound: QQP leaves most relations unlabelled). Both runs are written as bench runs
(``slokit report`` reads them) under benchmarks/results/cache_gateway/ and the figures to
benchmarks/results/cache_gateway.json. Run from the repository root, after cache_quality.py:
``.venv/bin/python benchmarks/cache_gateway.py`` (about 3 minutes; ``--requests 60`` to smoke).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from cache_quality import halves
from gateway_overload import Upstream, free_port, process, wait_ready
from gateway_runs import PoissonRun, add_run_options, local_model, poisson_run
from slokit import __version__ as slokit_version
from slokit.cache import read_pairs
from slokit.results import iter_records, write_json_atomic
from slokit.slo import parse_slo

ROOT = Path(__file__).parent / "results"
RESULTS = ROOT / "cache_gateway.json"
RUNS = ROOT / "cache_gateway"
DATA = Path(__file__).parent.parent.parent / "shared" / "data" / "semcache" / "qqp_dev.jsonl"
MODEL = "m"


def workload(requests: int, repeat_share: float, seed: int) -> list[tuple[str, bool]]:
    """``(question, is_paraphrase)`` in send order; each paraphrase comes after its original."""
    _, evaluation = halves(read_pairs(DATA))
    rng = random.Random(seed)
    duplicates = [p for p in evaluation if p.duplicate]
    repeats = round(requests * repeat_share)
    chosen = rng.sample(duplicates, repeats)
    originals = {p.text_a for p in chosen}
    taken = originals | {p.text_b for p in chosen}
    others = sorted({p.text_a for p in evaluation} - taken)
    fresh = list(originals) + rng.sample(others, requests - repeats - len(originals))
    rng.shuffle(fresh)
    order: list[tuple[str, bool]] = [(text, False) for text in fresh]
    for pair in chosen:
        after = next(i for i, (text, _) in enumerate(order) if text == pair.text_a)
        order.insert(rng.randint(after + 1, len(order)), (pair.text_b, True))
    return order


def gateway_config(upstream_url: str, served: str, workdir: Path, *, cache: bool) -> Path:
    tag = "cache" if cache else "no-cache"
    lines = [
        "models:",
        f"  {MODEL}:",
        "    backends:",
        f"      - url: {upstream_url}",
        f"        model: {served}",
        "telemetry:",
        f"  request_log: {workdir / f'gateway-{tag}.jsonl'}",
    ]
    if cache:
        calibration = orjson.loads((ROOT / "cache_quality.json").read_bytes())["calibrations"]
        path = workdir / "calibration.json"
        path.write_bytes(orjson.dumps(calibration["0.01"]))
        lines += [
            "stages:",
            "  cache:",
            "    store: memory",
            f"    calibration: {path}",
            "    store_length_limited: true",
        ]
    config = workdir / f"gateway-{tag}.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def one_run(
    upstream: Any,
    order: list[tuple[str, bool]],
    args: argparse.Namespace,
    workdir: Path,
    *,
    cache: bool,
) -> dict[str, Any]:
    config = gateway_config(upstream.base_url, upstream.served_model, workdir, cache=cache)
    port = free_port()
    tag = "cache" if cache else "no-cache"
    command = [sys.executable, "-m", "slokit", "serve", "--config", str(config)]
    plan = PoissonRun(
        model=MODEL,
        max_tokens=upstream.output_tokens,
        rate_per_s=args.rate,
        seed=args.seed,
        slo=parse_slo(args.slo),
    )
    prompts = [question for question, _ in order]
    with process([*command, "--port", str(port)], workdir / f"gateway-{tag}.log") as child:
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_ready(base_url, MODEL, child)  # a warm-up call (its own prompt, never repeated)
        _, figures = poisson_run(base_url, prompts, plan, RUNS / tag, {"cache": cache})
    # The gateway numbers requests as they arrive: in send order (the first is the warm-up).
    logged = sorted(iter_records(workdir / f"gateway-{tag}.jsonl"), key=lambda r: r.request_id)
    outcome = [str(r.annotations.get("cache", "none")) for r in logged[1:]]
    hits = [i for i, o in enumerate(outcome) if o == "hit"]
    paraphrase = [is_paraphrase for _, is_paraphrase in order]
    fresh_hits = sum(1 for i in hits if not paraphrase[i])
    return {
        **figures,
        "model_calls": sum(1 for o in outcome if o != "hit"),
        "hits": len(hits),
        "hits_on_paraphrases": len(hits) - fresh_hits,
        "paraphrases": sum(paraphrase),
        "hits_on_first_time_questions": fresh_hits,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--repeat-share", type=float, default=0.3)
    parser.add_argument("--rate", type=float, default=2.5, help="Poisson arrivals per second")
    add_run_options(parser)
    args = parser.parse_args()
    started_s = time.monotonic()
    order = workload(args.requests, args.repeat_share, args.seed)
    results: dict[str, Any] = {
        "benchmark": "cache_gateway",
        "slokit_version": slokit_version,
        "requests": len(order),
        "repeat_share": args.repeat_share,
        "rate_per_s": args.rate,
        "slo": args.slo,
        "local_model_niceness": args.nice_model,
        "load_average_before": os.getloadavg(),
    }
    with (
        tempfile.TemporaryDirectory(prefix="slokit-cache-gateway-") as tmp,
        local_model(args.nice_model) as server,
    ):
        up = Upstream(
            name="local",
            base_url=server.base_url,
            served_model=server.model,
            users_at_capacity=1,
            output_tokens=16,
            max_concurrency=4,
        )
        workdir = Path(tmp)
        for cache in (False, True):
            results["with_cache" if cache else "without_cache"] = one_run(
                up, order, args, workdir, cache=cache
            )
    results["wall_s"] = time.monotonic() - started_s
    write_json_atomic(RESULTS, results)
    head = (
        f"{'run':<14} {'thru/s':>7} {'good/s':>7} {'attain':>7} {'p50 s':>6} {'p99 s':>6} "
        f"{'calls':>6} {'hits':>5} {'para hit':>8} {'false<=':>7}"
    )
    print(head)
    print("-" * len(head))
    for name in ("without_cache", "with_cache"):
        r = results[name]
        print(
            f"{name:<14} {r['throughput_per_s']:>7.2f} {r['goodput_per_s']:>7.2f} "
            f"{r['slo_attainment']:>7.1%} {r['e2e_p50_s']:>6.2f} {r['e2e_p99_s']:>6.2f} "
            f"{r['model_calls']:>6} {r['hits']:>5} "
            f"{r['hits_on_paraphrases']:>3}/{r['paraphrases']:<4} "
            f"{r['hits_on_first_time_questions']:>7}"
        )
    print(f"{results['wall_s']:.0f} s; wrote {RESULTS}")


if __name__ == "__main__":
    main()
