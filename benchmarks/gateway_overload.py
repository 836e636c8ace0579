"""Overload at 3x capacity through ``slokit serve``: SLO-aware admission on against off.

Two upstreams, each measured in one run: slokit's emulator serving a small batching profile
(max batch 8, so its capacity is known and small) and the real local model (llama.cpp serving
SmolLM2-135M, one request at a time). For each:

1. capacity: a closed loop (as many users as the upstream serves at once) through the gateway
   with admission off, as long as each overload run and on the same prompts; its throughput is
   the capacity and its goodput the goodput at capacity.
2. overload with admission: Poisson arrivals at 3x capacity for ``--duration`` seconds through
   ``slokit serve`` with ``stages.admission`` on (limit from the SLO by Little's law, queue,
   shed with 429 + Retry-After).
3. overload without admission: the same load through the same gateway, admission off.

Every run is written as a bench run (results.json + requests.jsonl, so ``slokit report`` and
``slokit gate`` read it) under benchmarks/results/gateway_overload/; the figures go to
benchmarks/results/gateway_overload.json and a table is printed. Run from the repository root:
``.venv/bin/python benchmarks/gateway_overload.py`` (~10 minutes; ``--duration 10`` to smoke).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from slokit import __version__ as slokit_version
from slokit.bench import BenchRequest, ClientConfig, ClosedLoop, OpenLoop, RunResult, run
from slokit.bench.benchmark import results_document, write_run
from slokit.results import write_json_atomic
from slokit.results.summary import summarize_run
from slokit.sim import example_profile
from slokit.slo import SLOSpec, parse_slo

ROOT = Path(__file__).parent / "results"
RESULTS = ROOT / "gateway_overload.json"
RUNS = ROOT / "gateway_overload"
MODEL = "m"
#: Every run cycles through the same prompts, so capacity and overload serve the same mix
#: (the local model answers some prompts in 4 tokens, most in 16).
PROMPT_VARIANTS = 40
OVERLOAD = 3.0
READY_TIMEOUT_S = 120.0
#: The small batching server the emulator plays: 8 sequences a step, 10 ms + 2.5 ms/sequence.
PROFILE = replace(
    example_profile(),
    model="overload-demo",
    max_batch_size=8,
    decode_base_s=0.010,
    decode_per_seq_s=0.0025,
    prefill_base_s=0.005,
    prefill_per_token_s=1e-4,
    prefix_cache=False,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """One upstream to overload: where it serves, how many it serves at once, the SLO."""

    name: str
    base_url: str
    served_model: str
    users_at_capacity: int
    output_tokens: int
    max_concurrency: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(base_url: str, model: str, process: subprocess.Popen[bytes] | None) -> None:
    """Until a real completion goes through."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}],
                       "max_tokens": 2}).encode()  # fmt: skip
    deadline_s = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline_s:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{base_url}: the process exited ({process.returncode})")
        request = urllib.request.Request(
            base_url + "/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with (
            contextlib.suppress(OSError, urllib.error.HTTPError),
            urllib.request.urlopen(request, timeout=30) as reply,
        ):
            if reply.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{base_url} did not become ready")


@contextlib.contextmanager
def process(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        child = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield child
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


@contextlib.contextmanager
def emulator(workdir: Path) -> Iterator[Upstream]:
    profile_path = workdir / "profile.json"
    PROFILE.save(profile_path)
    port = free_port()
    command = [sys.executable, "-m", "slokit", "emulate", "--profile", str(profile_path)]
    command += ["--port", str(port), "--model", MODEL]
    with process(command, workdir / "emulator.log") as child:
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_ready(base_url, MODEL, child)
        yield Upstream(
            name="emulator",
            base_url=base_url,
            served_model=MODEL,
            users_at_capacity=PROFILE.max_batch_size,
            output_tokens=32,
            max_concurrency=64,
        )


@contextlib.contextmanager
def local_model() -> Iterator[Upstream]:
    from slokit.backends.local import LocalModelServer  # noqa: PLC0415  (the 'local' extra)

    with LocalModelServer() as server:
        wait_ready(server.base_url, server.model, None)
        yield Upstream(
            name="local",
            base_url=server.base_url,
            served_model=server.model,
            users_at_capacity=1,
            output_tokens=16,
            max_concurrency=4,
        )


@contextlib.contextmanager
def gateway(upstream: Upstream, slo: SLOSpec, *, admission: bool, workdir: Path) -> Iterator[str]:
    """``slokit serve`` in front of ``upstream``, with or without admission control."""
    lines = [
        "models:",
        f"  {MODEL}:",
        f"    slo: '{slo}'",
        "    backends:",
        f"      - url: {upstream.base_url}",
        f"        model: {upstream.served_model}",
    ]
    if admission:
        lines += [
            "stages:",
            "  admission:",
            f"    max_concurrency: {upstream.max_concurrency}",
            f"    initial_concurrency: {upstream.users_at_capacity}",
            "    service_share: 0.5",
        ]
    tag = "on" if admission else "off"
    config = workdir / f"gateway-{upstream.name}-{tag}.yaml"
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    command = [sys.executable, "-m", "slokit", "serve", "--config", str(config)]
    with process([*command, "--port", str(port)], workdir / f"gateway-{tag}.log") as child:
        base_url = f"http://127.0.0.1:{port}/v1"
        wait_ready(base_url, MODEL, child)
        yield base_url


def scrape(base_url: str) -> dict[str, float]:
    """The gateway's admission figures from /metrics, summed over labels."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    wanted = ("queue_depth", "admitted_total", "shed_total", "concurrency_limit",
              "queue_wait_seconds_sum", "queue_wait_seconds_count")  # fmt: skip
    figures = dict.fromkeys(wanted, 0.0)
    for line in text.splitlines():
        if line.startswith("slokit_gateway_"):
            name = line.split("{", 1)[0].split(" ", 1)[0].removeprefix("slokit_gateway_")
            if name in figures:
                figures[name] += float(line.rsplit(" ", 1)[1])
    return figures


def body(upstream: Upstream, index: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [
            {"role": "user", "content": f"Count from one to ten ({index % PROMPT_VARIANTS})."}
        ],
        "max_tokens": upstream.output_tokens,
        "stream": True,
        "temperature": 0.0,
    }


def record_run(
    name: str, result: RunResult, slo: SLOSpec, config: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """Write the run as a bench run and return its figures."""
    records = result.records
    summary = summarize_run(records, duration_s=max(result.duration_s, 1e-9), slo=slo)
    write_run(
        RUNS / name,
        results_document(kind="bench", config=config, slo=slo, summary=summary, extra=extra),
        records,
    )
    ok = [r.e2e_s for r in records if r.ok]
    statuses: dict[str, int] = {}
    for r in records:
        key = str(r.status) if r.status is not None else str(r.error)
        statuses[key] = statuses.get(key, 0) + 1
    # A shed call (429) is not good, but it is no failure of the calls the gateway admitted.
    admitted = [r for r in records if r.status != 429]
    threshold_s = max(o.threshold_s for o in slo.objectives)
    good_admitted = sum(1 for r in admitted if r.ok and r.e2e_s <= threshold_s)
    return {
        "run": str((RUNS / name).relative_to(ROOT.parent.parent)),
        "requests": len(records),
        "statuses": statuses,
        "shed": len(records) - len(admitted),
        "failed": sum(1 for r in admitted if not r.ok),
        "throughput_per_s": summary["request_throughput"],
        "goodput_per_s": summary["goodput"],
        "slo_attainment": summary["slo_attainment"],
        "admitted_attainment": good_admitted / len(admitted) if admitted else None,
        "admitted_e2e_s": quantiles(ok),
        "admitted_p50_s": float(np.percentile(ok, 50)) if ok else None,
        "admitted_p99_s": float(np.percentile(ok, 99)) if ok else None,
        "max_outstanding": result.max_in_flight,
        "duration_s": result.duration_s,
        "load_average": os.getloadavg(),
        **extra,
    }


def quantiles(samples: list[float]) -> dict[str, float] | None:
    """The spread of ``samples`` (at capacity: the service time the gateway must plan for)."""
    if not samples:
        return None
    values = np.asarray(samples)
    figures = {f"p{q}": float(np.percentile(values, q)) for q in (50, 90, 95, 99)}
    mean = float(values.mean())
    return {**figures, "max": float(values.max()), "mean": mean,
            "cv": float(values.std() / mean) if mean > 0 else 0.0}  # fmt: skip


def capacity(upstream: Upstream, slo: SLOSpec, base_url: str, seconds: float) -> dict[str, Any]:
    users = upstream.users_at_capacity
    requests = (BenchRequest(scheduled_s=0.0, endpoint="chat", body=body(upstream, i))
                for i in range(10**9))  # fmt: skip
    client = ClientConfig(base_url=base_url, timeout_s=120.0)
    result = run(requests, client, ClosedLoop(users=users, duration_s=seconds))
    config = {"upstream": upstream.name, "load": f"closed loop, {users} users", "admission": False}
    return record_run(f"{upstream.name}-capacity", result, slo, config, {"users": users})


def overload(
    upstream: Upstream, slo: SLOSpec, base_url: str, rate: float, args: argparse.Namespace,
    *, admission: bool,
) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(args.seed)
    requests, at_s, index = [], 0.0, 0
    while (at_s := at_s + rng.expovariate(rate)) < args.duration:
        requests.append(BenchRequest(scheduled_s=at_s, endpoint="chat", body=body(upstream, index)))
        index += 1
    # Clients give up after twice the SLO: without admission that is where the queue goes.
    timeout_s = 2 * max(o.threshold_s for o in slo.objectives)
    client = ClientConfig(base_url=base_url, timeout_s=timeout_s)
    result = run(requests, client, OpenLoop(processes=1))
    metrics = scrape(base_url)
    tag = "admission" if admission else "no-admission"
    config = {"upstream": upstream.name, "load": f"poisson {rate:.3g}/s", "admission": admission,
              "client_timeout_s": timeout_s}  # fmt: skip
    extra = {"offered_per_s": rate, "gateway_metrics": metrics}
    return record_run(f"{upstream.name}-{tag}", result, slo, config, extra)


def one_upstream(
    upstream: Upstream, slo: SLOSpec, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    with gateway(upstream, slo, admission=False, workdir=workdir) as base_url:
        at_capacity = capacity(upstream, slo, base_url, args.capacity_duration)
    rate = OVERLOAD * at_capacity["throughput_per_s"]
    print(f"{upstream.name}: capacity {at_capacity['throughput_per_s']:.2f}/s, "
          f"offering {rate:.2f}/s", flush=True)  # fmt: skip
    with gateway(upstream, slo, admission=True, workdir=workdir) as base_url:
        with_admission = overload(upstream, slo, base_url, rate, args, admission=True)
    with gateway(upstream, slo, admission=False, workdir=workdir) as base_url:
        without = overload(upstream, slo, base_url, rate, args, admission=False)
    slo_s = max(o.threshold_s for o in slo.objectives)
    good = with_admission["goodput_per_s"] / max(at_capacity["goodput_per_s"], 1e-9)
    return {
        "slo": str(slo),
        "capacity": at_capacity,
        "admission": with_admission,
        "no_admission": without,
        "checks": {
            "goodput_vs_capacity": good,
            "goodput_at_least_90pct": good >= 0.9,
            "admitted_p99_within_slo": (with_admission["admitted_p99_s"] or 0.0) <= slo_s,
        },
    }


def table(results: dict[str, Any]) -> str:
    head = (f"{'upstream':<9} {'run':<13} {'offered/s':>9} {'thru/s':>7} {'good/s':>7} "
            f"{'attain':>7} {'adm.att':>7} {'p99 ok(s)':>9} {'429':>5} {'fail':>5} "
            f"{'max out':>7}")  # fmt: skip
    rows = [head, "-" * len(head)]
    for name, upstream in results["upstreams"].items():
        for run_name in ("capacity", "admission", "no_admission"):
            r = upstream[run_name]
            p99 = r["admitted_p99_s"]
            admitted = r["admitted_attainment"]
            rows.append(
                f"{name:<9} {run_name:<13} {r.get('offered_per_s', 0.0):>9.2f} "
                f"{r['throughput_per_s']:>7.2f} {r['goodput_per_s']:>7.2f} "
                f"{r['slo_attainment']:>7.1%} {'-' if admitted is None else f'{admitted:.1%}':>7} "
                f"{'-' if p99 is None else f'{p99:.2f}':>9} "
                f"{r['shed']:>5} {r['failed']:>5} {r['max_outstanding']:>7}"
            )
        checks = upstream["checks"]
        rows.append(f"{name:<9} SLO {upstream['slo']}: goodput with admission = "
                    f"{checks['goodput_vs_capacity']:.0%} of capacity goodput; admitted p99 "
                    f"within SLO: {checks['admitted_p99_within_slo']}")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="overload seconds per run")
    parser.add_argument(
        "--capacity-duration",
        type=float,
        default=None,
        help="closed-loop seconds at capacity (default: --duration, the overload runs' span)",
    )
    parser.add_argument("--upstreams", default="emulator,local")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.capacity_duration is None:
        args.capacity_duration = args.duration
    started_s = time.monotonic()
    load_before = os.getloadavg()
    slos = {"emulator": parse_slo("e2e<=3s"), "local": parse_slo("e2e<=4s")}
    results: dict[str, Any] = {
        "benchmark": "gateway_overload",
        "slokit_version": slokit_version,
        "overload_factor": OVERLOAD,
        "duration_s": args.duration,
        "capacity_duration_s": args.capacity_duration,
        "profile": PROFILE.to_json(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "upstreams": {},
    }
    with tempfile.TemporaryDirectory(prefix="slokit-overload-") as tmp:
        workdir = Path(tmp)
        for name in args.upstreams.split(","):
            source = emulator(workdir) if name == "emulator" else local_model()
            try:
                with source as upstream:
                    results["upstreams"][name] = one_upstream(upstream, slos[name], args, workdir)
            except Exception as error:  # noqa: BLE001  (one upstream failing leaves the other)
                results.setdefault("skipped", {})[name] = repr(error)
                print(f"{name}: skipped ({error!r})", flush=True)
    results["load_average_after"] = os.getloadavg()
    results["wall_s"] = time.monotonic() - started_s
    write_json_atomic(RESULTS, results)
    print(table(results))
    print(f"load average before {load_before}, after {results['load_average_after']}; "
          f"{results['wall_s']:.0f} s; wrote {RESULTS}")  # fmt: skip


if __name__ == "__main__":
    main()
