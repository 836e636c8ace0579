"""Shared by the gateway benchmarks: one seeded Poisson run of chat prompts, written as a bench run.

Not a benchmark itself; cache_gateway.py and routing_gateway.py import it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gateway_overload import wait_ready
from slokit.backends.local import LocalModelServer
from slokit.bench import BenchRequest, ClientConfig, OpenLoop, RunResult, run
from slokit.bench.benchmark import results_document, write_run
from slokit.results.summary import summarize_run
from slokit.slo import SLOSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class PoissonRun:
    """What to send: one user turn per prompt, streamed, at temperature 0."""

    model: str
    max_tokens: int
    rate_per_s: float
    seed: int
    slo: SLOSpec


def poisson_run(
    base_url: str, prompts: list[str], plan: PoissonRun, run_dir: Path, config: dict[str, Any]
) -> tuple[RunResult, dict[str, Any]]:
    """Send ``prompts`` in order at seeded Poisson times; write the run; its summary figures."""
    rng = random.Random(plan.seed)
    requests, at_s = [], 0.0
    for prompt in prompts:
        at_s += rng.expovariate(plan.rate_per_s)
        body = {
            "model": plan.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": plan.max_tokens,
            "temperature": 0.0,
            "stream": True,
        }
        requests.append(BenchRequest(scheduled_s=at_s, endpoint="chat", body=body))
    result = run(requests, ClientConfig(base_url=base_url, timeout_s=60.0), OpenLoop())
    records = result.records
    summary = summarize_run(records, duration_s=max(result.duration_s, 1e-9), slo=plan.slo)
    document = results_document(
        kind="bench", config=config, slo=plan.slo, summary=summary, extra={}
    )
    write_run(run_dir, document, records)
    e2e = np.array([r.e2e_s for r in records if r.ok])
    figures = {
        "requests": len(records),
        "failed": sum(1 for r in records if not r.ok),
        "throughput_per_s": summary["request_throughput"],
        "goodput_per_s": summary["goodput"],
        "slo_attainment": summary["slo_attainment"],
        "e2e_p50_s": float(np.percentile(e2e, 50)) if e2e.size else None,
        "e2e_p99_s": float(np.percentile(e2e, 99)) if e2e.size else None,
        "duration_s": result.duration_s,
    }
    return result, figures


def renice(pid: int | None, niceness: int) -> None:
    """Lower every thread of ``pid`` (Linux sets niceness per thread)."""
    if pid is None:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every gateway run shares: SLO, seed, and the local model's niceness."""
    parser.add_argument("--slo", default="e2e<=4s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--nice-model",
        type=int,
        default=10,
        help="niceness of the local model's threads: the model and the gateway share this "
        "machine's two cores here, as they would not in production (0: leave it)",
    )


@contextlib.contextmanager
def local_model(niceness: int) -> Iterator[LocalModelServer]:
    """The local SmolLM2 server, answering, its threads at ``niceness`` (0: left as they are)."""
    with LocalModelServer() as server:
        wait_ready(server.base_url, server.model, None)
        if niceness:
            renice(server.pid, niceness)
        yield server
