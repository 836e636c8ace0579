"""What a gateway between client and model server costs: slokit's vs the LiteLLM proxy.

One fast upstream (slokit's emulator: non-streamed replies at once, streamed chunks a fraction
of a millisecond apart) is reached four ways, side by side in one run: directly, through a
byte relay (``benchmarks/tcp_relay.py``: uvloop, no HTTP work; the floor under any proxy that
forwards each chunk as it arrives), through the LiteLLM proxy and through ``slokit serve``.
Scenarios: closed loops of 1, 16 and 64 users, each sending non-streamed (JSON) or 20-chunk
streamed (SSE) chat completions.

Per target and scenario: the proxy process tree's CPU time per request and per streamed chunk
(utime + stime from /proc/<pid>/stat across the measured window, children included), latency
p50/p99 and the p50 added over direct, throughput, and the RSS of the proxy before and after
the rounds. Rounds are interleaved (direct, relay, litellm, slokit, then the reverse order, ...) and
figures are medians across rounds. The load generator and the emulator run in processes of
their own, pinned to one core; each proxy gets the other core to itself.

``--soak 600`` then drives each ``--soak-targets`` proxy at a moderate open-loop rate and
samples its RSS every few seconds: the slope (MB/min) says whether memory stays flat.

Run: ``bash benchmarks/litellm_env.sh`` once (LiteLLM in a virtual environment of its own),
then ``.venv/bin/python benchmarks/gateway_overhead.py``; it writes
benchmarks/results/gateway_overhead.json and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from slokit import __version__ as slokit_version
from slokit.bench import BenchRequest, ClientConfig, ClosedLoop, OpenLoop, run
from slokit.emulate import EmulatorConfig, TimingRequest, run_emulator_process
from slokit.results import write_json_atomic

RESULTS = Path(__file__).parent / "results" / "gateway_overhead.json"
LITELLM_VENV = Path(os.environ.get("LITELLM_VENV", "/tmp/slokit-litellm-venv"))
MODEL = "bench"
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
VERSIONS_SCRIPT = (
    "import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in "
    "('litellm', 'fastapi', 'uvicorn', 'httpx', 'aiohttp', 'openai', 'pydantic')}))"
)
#: The figures slokit's gateway is held to (issue "slokit serve ... 25x leaner than LiteLLM").
TARGETS = {
    "cpu_ms_per_request": 1.0,
    "cpu_ms_per_chunk": 0.05,
    "added_p50_ms_at_1": 1.0,
    "rss_mb": 150.0,
    "soak_slope_mb_per_min": 0.5,
}
#: What LiteLLM proxy 1.108.7 was known to cost before this benchmark existed.
LITELLM_ANCHOR = {
    "version": "1.108.7",
    "cpu_ms_per_request": 25.0,
    "cpu_ms_per_20_chunk_stream": 60.0,
    "added_p50_ms_at_1": 48.0,
    "saturation_per_s": 30.0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PacedTiming:
    """Non-streamed replies at once; streamed chunks ``itl_s`` apart, so that each chunk
    reaches the proxy as a read of its own, as it does from a real model server."""

    itl_s: float
    output_tokens: int

    def token_offsets(self, request: TimingRequest) -> Iterator[float]:
        gap_s = self.itl_s if request.stream else 0.0
        return (index * gap_s for index in range(self.output_tokens))


# -- /proc ------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses


def tree_pids(root: int) -> list[int]:
    """``root`` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(
                    int(entry.name)
                )
    pids, frontier = [root], [root]
    while frontier:
        frontier = [child for pid in frontier for child in children.get(pid, [])]
        pids.extend(frontier)
    return pids


def cpu_seconds(root: int) -> float:
    """User + system CPU of ``root``'s tree (all threads), with its reaped children's."""
    ticks = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            fields = _stat_fields(pid)
            ticks += int(fields[11]) + int(fields[12])
            if pid == root:
                ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS_PER_S


def runqueue_wait_s(root: int) -> float:
    """Time ``root``'s live threads spent ready to run but waiting for a CPU: on a shared
    machine, the part of a latency that other work took."""
    total_ns = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    total_ns += int((task / "schedstat").read_text().split()[1])
    return total_ns / 1e9


def rss_mb(root: int) -> float:
    """Resident memory of ``root``'s tree, in MB (10^6 bytes)."""
    total_kb = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb * 1024 / 1e6


# -- the load generator, in a process of its own ------------------------------------------------


def body(*, stream: bool, tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Say something short."}],
        "max_tokens": tokens,
        "stream": stream,
    }


def percentile_ms(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q) * 1e3) if values else None


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """A warm-up closed loop, then the measured one with /proc CPU read at its edges."""
    request = BenchRequest(
        scheduled_s=0.0, endpoint="chat", body=body(stream=spec["stream"], tokens=spec["tokens"])
    )
    client = ClientConfig(base_url=spec["base_url"], api_key=spec["api_key"], timeout_s=60.0)
    users = spec["concurrency"]
    run(itertools.repeat(request), client, ClosedLoop(users=users, duration_s=spec["warmup_s"]))
    pids: dict[str, int] = spec["pids"]
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    wait_before = {name: runqueue_wait_s(pid) for name, pid in pids.items()}
    own_before, start_s = time.process_time(), time.monotonic()
    result = run(
        itertools.repeat(request), client, ClosedLoop(users=users, duration_s=spec["duration_s"])
    )
    window_s = time.monotonic() - start_s
    own_s = time.process_time() - own_before
    cpu_s = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    wait_s = {name: runqueue_wait_s(pid) - wait_before[name] for name, pid in pids.items()}
    ok = [record for record in result.records if record.ok]
    e2e = [record.e2e_s for record in ok]
    ttft = [record.ttft_s for record in ok if record.ttft_s is not None]
    return {
        "requests": len(result.records),
        "errors": len(result.records) - len(ok),
        "error_classes": sorted({str(record.error) for record in result.records if record.error}),
        "chunks": sum(len(record.chunk_times_s) for record in ok),
        "window_s": window_s,
        "cpu_s": cpu_s,
        "runqueue_wait_s": wait_s,
        "loadgen_cpu_s": own_s,
        "p50_ms": percentile_ms(e2e, 50),
        "p99_ms": percentile_ms(e2e, 99),
        "ttft_p50_ms": percentile_ms(ttft, 50) if spec["stream"] else None,
        "throughput_per_s": len(ok) / window_s,
    }


def soak_load(spec: dict[str, Any]) -> dict[str, Any]:
    """An open loop at a constant rate, streamed and non-streamed requests alternating."""
    gap_s = 1.0 / spec["rate_per_s"]
    bodies = [body(stream=False, tokens=spec["tokens"]), body(stream=True, tokens=spec["tokens"])]
    requests = [
        BenchRequest(scheduled_s=index * gap_s, endpoint="chat", body=bodies[index % 2])
        for index in range(int(spec["duration_s"] * spec["rate_per_s"]))
    ]
    client = ClientConfig(base_url=spec["base_url"], api_key=spec["api_key"], timeout_s=60.0)
    result = run(requests, client, OpenLoop(max_concurrency=spec["max_concurrency"]))
    ok = [record.e2e_s for record in result.records if record.ok]
    return {
        "requests": len(result.records),
        "errors": len(result.records) - len(ok),
        "p50_ms": percentile_ms(ok, 50),
        "p99_ms": percentile_ms(ok, 99),
        "lag_p99_ms": result.lag.p99_s * 1e3,
        "warnings": list(result.warnings),
    }


def loadgen_main(pipe: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this child stops
    jobs = {"measure": measure, "soak": soak_load}
    while (message := pipe.recv()) is not None:
        kind, spec = message
        pipe.send(jobs[kind](spec))


# -- the proxies --------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class Target:
    """One way to reach the upstream; ``process`` is None for the direct path."""

    name: str
    base_url: str
    api_key: str | None = None
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(command: list[str], env: dict[str, str], log: Path, cpus: set[int] | None) -> Any:
    """Start ``command`` in a session of its own, on ``cpus``: the affinity is this process's
    while it forks, so every thread and child of the proxy inherits it from the start."""
    own = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        with log.open("wb") as out:
            return subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    finally:
        os.sched_setaffinity(0, own)


def wait_ready(target: Target) -> None:
    """Until a real completion goes through: the proxy is up and routes to the upstream."""
    payload = json.dumps(body(stream=False, tokens=4)).encode()
    headers = {"Content-Type": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    deadline_s = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline_s:
        if target.process is not None and target.process.poll() is not None:
            break
        request = urllib.request.Request(
            target.base_url + "/chat/completions", data=payload, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                if reply.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:300]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.25)
    tail = target.log.read_text(errors="replace")[-2000:] if target.log else ""
    raise RuntimeError(f"{target.name} did not become ready ({last})\n{tail}")


def stop(target: Target) -> None:
    process = target.process
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the session started for this proxy alone
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_litellm(venv: Path, upstream: str, workdir: Path, cpus: set[int] | None) -> Target:
    executable = venv / "bin" / "litellm"
    if not executable.exists():
        raise FileNotFoundError(f"no {executable}: run `bash benchmarks/litellm_env.sh` first")
    versions = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            VERSIONS_SCRIPT,
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    config = workdir / "litellm.yaml"
    config.write_text(
        f"model_list:\n  - model_name: {MODEL}\n    litellm_params:\n"
        f"      model: openai/{MODEL}\n      api_base: {upstream}\n      api_key: sk-unused\n"
    )
    key = "sk-bench-" + os.urandom(16).hex()
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": key,  # it refuses to start without one
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network: skip fetching the price list
    }
    port = free_port()
    log = workdir / "litellm.log"
    command = [str(executable), "--config", str(config), "--host", "127.0.0.1"]
    process = launch([*command, "--port", str(port), "--num_workers", "1"], env, log, cpus)
    info = {"versions": json.loads(versions.stdout), "settings": "defaults, master key, 1 worker"}
    return Target(
        name="litellm",
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=key,
        process=process,
        log=log,
        info=info,
    )


def start_relay(upstream: str, workdir: Path, cpus: set[int] | None) -> Target:
    where = urlsplit(upstream)
    port = free_port()
    log = workdir / "relay.log"
    script = Path(__file__).with_name("tcp_relay.py")
    command = [sys.executable, str(script), str(port), str(where.hostname), str(where.port)]
    process = launch(command, dict(os.environ), log, cpus)
    path = where.path.rstrip("/")
    return Target(
        name="relay",
        base_url=f"http://127.0.0.1:{port}{path}",
        process=process,
        log=log,
        info={"what": "byte relay, uvloop, no HTTP parsing (benchmarks/tcp_relay.py)"},
    )


def start_slokit(upstream: str, workdir: Path, cpus: set[int] | None) -> Target:
    probe = subprocess.run(
        [sys.executable, "-m", "slokit", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or "--backend" not in probe.stdout:
        raise FileNotFoundError("`slokit serve --backend NAME=URL` is not available yet")
    port = free_port()
    log = workdir / "slokit.log"
    command = [sys.executable, "-m", "slokit", "serve", "--backend", f"{MODEL}={upstream}"]
    process = launch([*command, "--port", str(port)], dict(os.environ), log, cpus)
    return Target(
        name="slokit",
        base_url=f"http://127.0.0.1:{port}/v1",
        process=process,
        log=log,
        info={"version": slokit_version, "settings": "defaults, one --backend"},
    )


# -- the run ------------------------------------------------------------------------------------


def idle_cpu_ms_per_s(pid: int, seconds: float = 3.0) -> float:
    """What the proxy burns with no request in flight (timers, background tasks)."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) * 1e3 / seconds


def scenarios(concurrencies: list[int]) -> list[tuple[str, int]]:
    return [(mode, users) for users in concurrencies for mode in ("json", "stream")]


def one_round(
    loadgen: Connection,
    targets: list[Target],
    emulator_pid: int,
    args: argparse.Namespace,
    round_index: int,
) -> list[dict[str, Any]]:
    rows = []
    for mode, users in scenarios(args.concurrency):
        order = targets if round_index % 2 == 0 else targets[::-1]
        for target in order:
            pids = {"upstream": emulator_pid}
            if target.process is not None:
                pids["proxy"] = target.process.pid
            spec = {
                "base_url": target.base_url,
                "api_key": target.api_key,
                "stream": mode == "stream",
                "tokens": args.chunks,
                "concurrency": users,
                "warmup_s": args.warmup,
                "duration_s": args.duration,
                "pids": pids,
            }
            loadgen.send(("measure", spec))
            row: dict[str, Any] = {
                "round": round_index,
                "target": target.name,
                "mode": mode,
                "users": users,
            }
            row.update(loadgen.recv())
            rows.append(row)
            print(
                f"  round {round_index} {mode:6} c={users:<3} {target.name:8} "
                f"{row['throughput_per_s']:8.1f} req/s  p50 {row['p50_ms'] or 0:7.2f} ms  "
                f"proxy CPU {row['cpu_s'].get('proxy', 0.0):6.2f} s  errors {row['errors']}",
                flush=True,
            )
    return rows


def derive(rows: list[dict[str, Any]], chunks: int) -> None:
    """Per-request and per-chunk CPU, and the p50 added over direct in the same round."""
    direct = {(r["round"], r["mode"], r["users"]): r for r in rows if r["target"] == "direct"}
    json_rows = {(r["round"], r["target"], r["users"]): r for r in rows if r["mode"] == "json"}
    for row in rows:
        proxy_s = row["cpu_s"].get("proxy")
        row["proxy_cores"] = proxy_s / row["window_s"] if proxy_s is not None else None
        row["upstream_cores"] = row["cpu_s"]["upstream"] / row["window_s"]
        row["loadgen_cores"] = row["loadgen_cpu_s"] / row["window_s"]
        done = max(row["requests"], 1)
        row["cpu_ms_per_request"] = proxy_s * 1e3 / done if proxy_s is not None else None
        wait_s = row["runqueue_wait_s"].get("proxy")
        row["wait_ms_per_request"] = wait_s * 1e3 / done if wait_s is not None else None
        row["cpu_ms_per_chunk"] = None
        row["cpu_ms_per_chunk_marginal"] = None
        if row["mode"] == "stream" and proxy_s is not None and row["chunks"]:
            row["cpu_ms_per_chunk"] = proxy_s * 1e3 / row["chunks"]
            plain = json_rows.get((row["round"], row["target"], row["users"]))
            if plain is not None and plain["cpu_ms_per_request"] is not None:
                extra_ms = row["cpu_ms_per_request"] - plain["cpu_ms_per_request"]
                row["cpu_ms_per_chunk_marginal"] = extra_ms / chunks
        base = direct.get((row["round"], row["mode"], row["users"]))
        row["added_p50_ms"] = None
        row["added_ttft_p50_ms"] = None
        if base is not None and row["p50_ms"] is not None and base["p50_ms"] is not None:
            row["added_p50_ms"] = row["p50_ms"] - base["p50_ms"]
            if row["ttft_p50_ms"] is not None and base["ttft_p50_ms"] is not None:
                row["added_ttft_p50_ms"] = row["ttft_p50_ms"] - base["ttft_p50_ms"]


MEDIAN_KEYS = (
    "cpu_ms_per_request",
    "cpu_ms_per_chunk",
    "cpu_ms_per_chunk_marginal",
    "wait_ms_per_request",
    "p50_ms",
    "p99_ms",
    "ttft_p50_ms",
    "added_p50_ms",
    "added_ttft_p50_ms",
    "throughput_per_s",
    "proxy_cores",
    "upstream_cores",
    "loadgen_cores",
)


def summarize(rows: list[dict[str, Any]], names: list[str], concurrency: list[int]) -> list[Any]:
    summary = []
    for mode, users in scenarios(concurrency):
        for name in names:
            mine = [r for r in rows if (r["target"], r["mode"], r["users"]) == (name, mode, users)]
            entry: dict[str, Any] = {"target": name, "mode": mode, "users": users}
            for key in MEDIAN_KEYS:
                values = [r[key] for r in mine if r[key] is not None]
                entry[key] = median(values) if values else None
            entry["requests"] = sum(r["requests"] for r in mine)
            entry["errors"] = sum(r["errors"] for r in mine)
            summary.append(entry)
    return summary


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def compare(summary: list[dict[str, Any]], memory: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's figures over slokit's (how many times leaner), and slokit against its targets."""
    table = {(e["target"], e["mode"], e["users"]): e for e in summary}
    ratios: dict[str, Any] = {}
    for (name, mode, users), theirs in table.items():
        ours = table.get(("slokit", mode, users))
        if name != "litellm" or ours is None:
            continue
        ratios[f"{mode} c={users}"] = {
            "cpu_per_request_x": ratio(theirs["cpu_ms_per_request"], ours["cpu_ms_per_request"]),
            "added_p50_x": ratio(theirs["added_p50_ms"], ours["added_p50_ms"]),
            "throughput_x": ratio(ours["throughput_per_s"], theirs["throughput_per_s"]),
        }
    if "litellm" in memory and "slokit" in memory:
        ratios["rss_after_x"] = ratio(memory["litellm"]["after_mb"], memory["slokit"]["after_mb"])
    ours_all = [e for e in summary if e["target"] == "slokit"]
    if not ours_all:
        return {"litellm_over_slokit": ratios, "slokit_targets": None, "chunk_floor": {}}

    def worst(key: str, mode: str) -> float | None:
        values = [e[key] for e in ours_all if e["mode"] == mode and e[key] is not None]
        return max(values) if values else None

    added = table.get(("slokit", "json", 1), {}).get("added_p50_ms")
    checks = {
        "cpu_ms_per_request_worst": worst("cpu_ms_per_request", "json"),
        "cpu_ms_per_chunk_marginal_worst": worst("cpu_ms_per_chunk_marginal", "stream"),
        "added_p50_ms_at_1": added,
        "rss_mb_after": memory.get("slokit", {}).get("after_mb"),
    }
    limits = {
        "cpu_ms_per_request_worst": TARGETS["cpu_ms_per_request"],
        "cpu_ms_per_chunk_marginal_worst": TARGETS["cpu_ms_per_chunk"],
        "added_p50_ms_at_1": TARGETS["added_p50_ms_at_1"],
        "rss_mb_after": TARGETS["rss_mb"],
    }
    met = {key: value is not None and value <= limits[key] for key, value in checks.items()}
    return {
        "litellm_over_slokit": ratios,
        "slokit_targets": {"values": checks, "met": met},
        "chunk_floor": chunk_floor(table),
    }


def chunk_floor(table: dict[tuple[str, str, int], dict[str, Any]]) -> dict[str, Any]:
    """Per streamed chunk, marginal: the byte relay's (the floor), slokit's, and the gap."""
    floor: dict[str, Any] = {}
    for (name, mode, users), relay in table.items():
        ours = table.get(("slokit", mode, users))
        if name != "relay" or mode != "stream" or ours is None:
            continue
        relay_ms, ours_ms = relay["cpu_ms_per_chunk_marginal"], ours["cpu_ms_per_chunk_marginal"]
        floor[f"c={users}"] = {
            "relay_ms": relay_ms,
            "slokit_ms": ours_ms,
            "slokit_over_relay_ms": (
                ours_ms - relay_ms if ours_ms is not None and relay_ms is not None else None
            ),
        }
    return floor


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float | None:
    if len(samples) < 3:
        return None
    times, values = np.array(samples).T
    return float(np.polyfit(times / 60.0, values, 1)[0])


def soak(loadgen: Connection, target: Target, args: argparse.Namespace) -> dict[str, Any]:
    """Drive ``target`` for ``--soak`` seconds and sample its RSS meanwhile."""
    assert target.process is not None
    pid = target.process.pid
    spec = {
        "base_url": target.base_url,
        "api_key": target.api_key,
        "tokens": args.chunks,
        "rate_per_s": args.soak_rate,
        "duration_s": args.soak,
        "max_concurrency": 64,
    }
    print(f"soak {target.name}: {args.soak:.0f} s at {args.soak_rate:.0f} req/s", flush=True)
    cpu_before, start_s = cpu_seconds(pid), time.monotonic()
    loadgen.send(("soak", spec))
    samples = [(0.0, rss_mb(pid))]
    while not loadgen.poll(args.soak_interval):
        samples.append((time.monotonic() - start_s, rss_mb(pid)))
        print(f"  {samples[-1][0]:6.0f} s  RSS {samples[-1][1]:7.1f} MB", flush=True)
    load = loadgen.recv()
    elapsed_s = time.monotonic() - start_s
    samples.append((elapsed_s, rss_mb(pid)))
    half = [sample for sample in samples if sample[0] >= elapsed_s / 2]
    slope_late = slope_mb_per_min(half)
    return {
        "target": target.name,
        "duration_s": elapsed_s,
        "rate_per_s": args.soak_rate,
        "load": load,
        "cpu_ms_per_request": (cpu_seconds(pid) - cpu_before) * 1e3 / max(load["requests"], 1),
        "rss_mb_first": samples[0][1],
        "rss_mb_last": samples[-1][1],
        "rss_mb_max": max(value for _, value in samples),
        "slope_mb_per_min": slope_mb_per_min(samples),
        "slope_mb_per_min_second_half": slope_late,
        "flat": slope_late is not None and slope_late <= TARGETS["soak_slope_mb_per_min"],
        "samples": [[round(t, 1), round(v, 2)] for t, v in samples],
    }


def print_table(summary: list[dict[str, Any]], report: dict[str, Any]) -> None:
    def cell(value: float | None, width: int, digits: int) -> str:
        return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

    print(
        f"\n{'scenario':12} {'target':8} {'CPU ms/req':>10} {'ms/chunk':>9} {'marg.':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'req/s':>8} {'cores':>6} {'wait':>6} "
        f"{'err':>4}"
    )
    for e in summary:
        print(
            f"{e['mode'] + ' c=' + str(e['users']):12} {e['target']:8} "
            f"{cell(e['cpu_ms_per_request'], 10, 3)} {cell(e['cpu_ms_per_chunk'], 9, 4)} "
            f"{cell(e['cpu_ms_per_chunk_marginal'], 7, 4)} {cell(e['p50_ms'], 8, 2)} "
            f"{cell(e['p99_ms'], 8, 2)} {cell(e['added_p50_ms'], 8, 2)} "
            f"{cell(e['throughput_per_s'], 8, 1)} {cell(e['proxy_cores'], 6, 2)} "
            f"{cell(e['wait_ms_per_request'], 6, 2)} {e['errors']:4d}"
        )
    print(
        "CPU ms/req: proxy process tree CPU per request; ms/chunk: per streamed chunk, all-in;"
        "\nmarg.: (streamed - JSON CPU per request) / chunks; +p50: p50 over direct, same round;"
        "\ncores: proxy CPU / window; wait: run-queue wait of all proxy threads, ms per request"
    )
    print("\nresident memory (MB): ", end="")
    print(
        ", ".join(
            f"{name} {m['before_mb']:.1f} -> {m['after_mb']:.1f}"
            for name, m in report["memory"].items()
        )
    )
    for name, reason in report["skipped"].items():
        print(f"skipped {name}: {reason}")
    comparison = report["comparison"]
    ratios = comparison["litellm_over_slokit"]
    if ratios:
        print("\nLiteLLM over slokit (x times; throughput: slokit over LiteLLM)")
        print(f"{'scenario':12} {'CPU/req':>8} {'+p50':>8} {'req/s':>8}")
    for scenario, values in ratios.items():
        if isinstance(values, dict):
            print(
                f"{scenario:12} {cell(values['cpu_per_request_x'], 7, 1)}x "
                f"{cell(values['added_p50_x'], 7, 1)}x {cell(values['throughput_x'], 7, 1)}x"
            )
        else:
            print(f"{scenario:12} {cell(values, 7, 1)}x")
    checks = comparison["slokit_targets"]
    if checks:
        print("\nslokit against its targets")
        limits = {
            "cpu_ms_per_request_worst": ("CPU ms per JSON request (worst c)", "<= 1"),
            "cpu_ms_per_chunk_marginal_worst": ("CPU ms per chunk, marginal (worst c)", "<= 0.05"),
            "added_p50_ms_at_1": ("added p50 ms, JSON, c=1", "<= 1"),
            "rss_mb_after": ("RSS MB after the rounds", "<= 150"),
        }
        for key, (label, limit) in limits.items():
            met = "met" if checks["met"][key] else "NOT met"
            print(f"  {label:38} {cell(checks['values'][key], 9, 4)}  {limit:>7}  {met}")
    if comparison["chunk_floor"]:
        print("\nCPU ms per streamed chunk, marginal: the byte relay (floor) and slokit")
        for scenario, values in comparison["chunk_floor"].items():
            print(
                f"  {scenario:6} relay {cell(values['relay_ms'], 7, 4)}  slokit "
                f"{cell(values['slokit_ms'], 7, 4)}  slokit - relay "
                f"{cell(values['slokit_over_relay_ms'], 7, 4)}"
            )
    for result in report["soak"]:
        print(
            f"soak {result['target']}: RSS {result['rss_mb_first']:.1f} -> "
            f"{result['rss_mb_last']:.1f} MB (max {result['rss_mb_max']:.1f}), slope "
            f"{result['slope_mb_per_min']:.3f} MB/min, second half "
            f"{result['slope_mb_per_min_second_half']:.3f} MB/min, flat: {result['flat']}"
        )


def source_state() -> dict[str, Any]:
    """Which slokit was measured: its files' place, and the commit with uncommitted changes."""
    import slokit  # noqa: PLC0415  (only for its path)

    where = Path(slokit.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(where.rglob("*.py")):
        digest.update(path.relative_to(where).as_posix().encode() + b"\0" + path.read_bytes())
    # The files' digest tells apart two runs of one commit with different uncommitted changes.
    state: dict[str, Any] = {"path": str(where), "files_sha256": digest.hexdigest()}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        state["commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "."],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        state["uncommitted_changes"] = bool(changed.strip())
    return state


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--duration", type=float, default=5.0, help="measured s per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured s before each")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--chunks", type=int, default=20, help="output tokens = SSE chunks")
    parser.add_argument("--itl-ms", type=float, default=0.5, help="upstream gap between chunks")
    parser.add_argument("--targets", nargs="+", default=["direct", "relay", "litellm", "slokit"])
    parser.add_argument("--litellm-venv", type=Path, default=LITELLM_VENV)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds per target (0: no)")
    parser.add_argument("--soak-rate", type=float, default=100.0, help="soak requests/s")
    parser.add_argument("--soak-interval", type=float, default=5.0, help="s between RSS samples")
    parser.add_argument("--soak-targets", nargs="+", default=["slokit"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cpus = os.cpu_count() or 1
    pin = not args.no_pin and cpus >= 2
    proxy_cpus = {0} if pin else None
    if pin:  # this process, the emulator and the load generator share core 1; proxies get 0
        os.sched_setaffinity(0, {1})
    load_before = os.getloadavg()
    source = source_state()  # now, as the gateway starts: others may edit the tree meanwhile
    timing = PacedTiming(itl_s=args.itl_ms / 1e3, output_tokens=args.chunks)
    rows: list[dict[str, Any]] = []
    memory: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    soaks: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    context = multiprocessing.get_context("spawn")
    with (
        contextlib.ExitStack() as cleanup,
        run_emulator_process(EmulatorConfig(timing=timing)) as upstream,
    ):
        emulator = next(c for c in multiprocessing.active_children() if "emulator" in c.name)
        assert emulator.pid is not None
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="gateway-")))
        parent_end, child_end = context.Pipe()
        loadgen = context.Process(target=loadgen_main, args=(child_end,), daemon=True)
        loadgen.start()
        cleanup.callback(loadgen.join, 10)
        cleanup.callback(parent_end.send, None)
        targets = [Target(name="direct", base_url=upstream)] if "direct" in args.targets else []
        starters: dict[str, Callable[[], Target]] = {
            "relay": lambda: start_relay(upstream, workdir, proxy_cpus),
            "litellm": lambda: start_litellm(args.litellm_venv, upstream, workdir, proxy_cpus),
            "slokit": lambda: start_slokit(upstream, workdir, proxy_cpus),
        }
        for name, starter in starters.items():
            if name not in args.targets:
                continue
            try:
                target = starter()
                cleanup.callback(stop, target)
                wait_ready(target)
            except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
                skipped[name] = str(error).strip()
                print(f"skipping {name}: {skipped[name]}", flush=True)
                continue
            targets.append(target)
            info[name] = target.info
        for target in targets:
            if target.process is not None:
                memory[target.name] = {"before_mb": rss_mb(target.process.pid)}
                target.info["idle_cpu_ms_per_s"] = idle_cpu_ms_per_s(target.process.pid)
        for round_index in range(args.rounds):
            rows.extend(one_round(parent_end, targets, emulator.pid, args, round_index))
        for target in targets:
            if target.process is not None:
                memory[target.name]["after_mb"] = rss_mb(target.process.pid)
        soaks.extend(
            soak(parent_end, target, args)
            for target in targets
            if args.soak > 0 and target.name in args.soak_targets and target.process is not None
        )
    derive(rows, args.chunks)
    names = [target.name for target in targets]
    summary = summarize(rows, names, args.concurrency)
    report = {
        "machine": {
            "cpus": cpus,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            # A shared machine: other work shows up as noise; say how busy it was.
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "pinning": "proxy on CPU 0; emulator + load generator on CPU 1" if pin else "none",
        },
        "config": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "chunks": args.chunks,
            "upstream": f"slokit emulator, JSON at once, SSE chunks {args.itl_ms} ms apart",
            "slokit_version": slokit_version,
            "slokit_source": source,
            "proxies": info,
        },
        "targets": TARGETS,
        "litellm_anchor": LITELLM_ANCHOR,
        "skipped": skipped,
        "memory": memory,
        "summary": summary,
        "comparison": compare(summary, memory),
        "soak": soaks,
        "rounds": rows,
    }
    write_json_atomic(args.output, report)
    print_table(summary, report)
    load_after = os.getloadavg()[0]
    print(f"\nload average before/after: {load_before[0]:.2f}/{load_after:.2f}, {cpus} CPUs")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
