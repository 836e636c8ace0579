"""The gateway's hot path against its four targets: CPU per request, CPU per streamed chunk,
p50 added at concurrency 1, and resident memory (issue "slokit serve ... 25x leaner than
LiteLLM").

Run: ``.venv/bin/python benchmarks/gateway_hotpath.py`` (``--rounds 15 --requests 300
--streams 40 --chunks 50`` are the defaults); it writes benchmarks/results/gateway_hotpath.json
and prints a table. ``--baseline-src DIR`` adds a third target, the gateway run from another
source tree (``DIR/slokit``, e.g. a copy from before a change), in the same interleaved rounds.

One fast upstream (slokit's emulator in a process of its own: non-streamed replies at once,
streamed chunks ``--itl-ms`` apart so that each reaches the gateway as a read of its own) is
reached directly and through ``slokit serve`` (a subprocess, default settings, one
``--backend``). One client, a blocking keep-alive socket with TCP_NODELAY in this process, sends
one request at a time: the leanest client there is, so that what it adds is the same on both
paths. Rounds interleave direct and slokit (the order alternates) and every figure is the
median across rounds.

- CPU is the gateway process's on-CPU time from ``/proc/<pid>/task/*/schedstat`` (user +
  system, nanosecond resolution, all threads), across each measured window; CPU time, not wall
  time, because this machine's cores are shared with other work.
- ``cpu_ms_per_chunk`` is a streamed request's whole CPU (its per-request part included)
  divided by its chunks (``--chunks`` tokens, each an SSE event of its own).
- ``added_p50_ms`` is slokit's p50 minus direct's p50 in the same round, non-streamed requests.
  ``runqueue_ms_per_request`` is the time the gateway was runnable but waiting for a core
  (``schedstat`` field 2): on a loaded machine, the share of the added latency that other
  processes took.
- RSS is the gateway's ``VmRSS`` after warm-up and after the last round ("flat": the change).

What the hot path's optimisations bought, from the ``baseline`` of the committed result (the
same tree with the gateway and upstream client as they were before: stdlib asyncio loop,
proxy-headers middleware, aiohttp upstream, per-request ``labels()``) and py-spy/perf
profiles of a gateway under this load:

- uvloop for ``slokit serve`` (``server.run``): the CLI's ``asyncio.run`` had been running the
  gateway on the standard loop; CPU per request 0.48 -> 0.33 ms, added p50 1.5 -> 0.6 ms.
- upstream calls over ``slokit.backends.http1`` instead of aiohttp: per 50-chunk stream
  about 2.7 -> 2.0-2.5 ms of gateway CPU, per non-streamed request 0.33 -> 0.17 ms.
- metric label children cached, the request record built only when read: 32-40 -> 13 us per
  request.
- what is left per chunk (40-55 us) is mostly wake-ups and the kernel: one read from the
  upstream, one write to the client, a sleep in epoll between chunks (perf: 42% of samples in
  the kernel). The Python part of a chunk's path measures about 5 us in a hot loop but costs
  more after each sleep, with cold caches: dropping the record stage's stream wrapper
  altogether (an experiment, not a change) took the figure from 0.054 to 0.046 ms per chunk,
  its regex alone 0.052 -> 0.049. The figure moves with the machine's state: lower with other
  work keeping the cores busy, higher on an idle machine whose cores sleep between chunks.
- the record, backend and admission stages watch a stream through hooks (``Reply.watch``)
  instead of generators around it, and the upstream reader awaits a future per read without a
  coroutine around it: CPU per 50-chunk stream 2.70-2.73 -> 2.67-2.68 ms (two 20-round runs
  against the tree before, ``--baseline-src``), 0.054-0.055 -> 0.053-0.054 ms per chunk. A
  regex stays the content search (``bytes.count`` on three markers timed slower). Still
  missing 0.05: per chunk the gateway makes exactly one ``epoll_pwait``, one ``read`` and one
  ``write`` (strace), and perf puts 47% of its samples in the kernel (20% in the context
  switch of the wake-up itself).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from slokit import __version__ as slokit_version
from slokit.emulate import EmulatorConfig, TimingRequest, run_emulator_process
from slokit.results import write_json_atomic

RESULTS = Path(__file__).parent / "results" / "gateway_hotpath.json"
MODEL = "bench"
TARGETS = {
    "cpu_ms_per_request": 1.0,
    "cpu_ms_per_chunk": 0.05,
    "added_p50_ms_at_1": 1.0,
    "rss_mb": 150.0,
}
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PacedTiming:
    """Non-streamed replies at once; streamed tokens ``itl_s`` apart."""

    itl_s: float
    output_tokens: int

    def token_offsets(self, request: TimingRequest) -> Iterator[float]:
        gap_s = self.itl_s if request.stream else 0.0
        return (index * gap_s for index in range(self.output_tokens))


# -- /proc --------------------------------------------------------------------------------------


def schedstat_s(pid: int) -> tuple[float, float]:
    """(on-CPU seconds, runnable-but-waiting seconds) summed over ``pid``'s threads."""
    cpu_ns = wait_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (task / "schedstat").read_text().split()
            cpu_ns += int(fields[0])
            wait_ns += int(fields[1])
    return cpu_ns / 1e9, wait_ns / 1e9


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


# -- the client ---------------------------------------------------------------------------------


class Client:
    """HTTP/1.1 over one keep-alive socket; reads each reply to its end (length or chunked)."""

    def __init__(self, base_url: str) -> None:
        host_port, _, prefix = base_url.removeprefix("http://").partition("/")
        host, _, port = host_port.partition(":")
        self._prefix = "/" + prefix
        self._host = host_port
        self._address = (host, int(port))
        self._sock = self._connect()
        self._buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self._address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        self._sock.close()

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {self._prefix}{path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self._sock.sendall(head + body)
            return self._reply()
        except ConnectionError:
            if self._buffer:
                raise
        # uvicorn closes a connection idle for 5 s (its keep-alive timeout), as it may while
        # the other targets take their turn: once more on a new connection.
        self._sock.close()
        self._sock = self._connect()
        self._sock.sendall(head + body)
        return self._reply()

    def _fill(self) -> None:
        data = self._sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buffer += data

    def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._fill()
        line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
        return line

    def _reply(self) -> tuple[int, bytes]:
        status = int(self._line().split()[1])
        length = None
        chunked = False
        while line := self._line():
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, self._take(length or 0)
        parts = []
        while size := int(self._line().split(b";")[0], 16):
            parts.append(self._take(size))
            self._take(2)
        self._line()  # the empty trailer
        return status, b"".join(parts)


def request_body(*, stream: bool, tokens: int) -> bytes:
    return json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Say something short."}],
            "max_tokens": tokens,
            "stream": stream,
        }
    ).encode()


# -- the gateway --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gateway(
    upstream: str, log: Path, *, source: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``slokit serve`` with default settings; from ``source`` (a ``src`` directory) if given."""
    port = free_port()
    command = [sys.executable, "-m", "slokit", "serve", "--backend", f"{MODEL}={upstream}"]
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source.resolve())
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline_s = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline_s:
        if process.poll() is not None:
            break
        try:
            client = Client(base_url)
        except OSError:
            time.sleep(0.1)
            continue
        status, _ = client.post("/chat/completions", request_body(stream=False, tokens=4))
        client.close()
        if status == 200:
            return process, base_url
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the gateway did not become ready:\n{log.read_text()[-2000:]}")


# -- the run ------------------------------------------------------------------------------------


def phase(client: Client, body: bytes, count: int, pid: int | None) -> dict[str, Any]:
    """``count`` requests one at a time; latencies and the gateway's CPU across them."""
    before = schedstat_s(pid) if pid is not None else (0.0, 0.0)
    latencies_s = []
    errors = 0
    clock = time.perf_counter
    for _ in range(count):
        start_s = clock()
        status, _ = client.post("/chat/completions", body)
        latencies_s.append(clock() - start_s)
        errors += status != 200
    after = schedstat_s(pid) if pid is not None else (0.0, 0.0)
    return {
        "p50_ms": median(latencies_s) * 1e3 if latencies_s else None,
        "cpu_ms": (after[0] - before[0]) * 1e3,
        "runqueue_ms": (after[1] - before[1]) * 1e3,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=300, help="non-streamed per round")
    parser.add_argument("--streams", type=int, default=40, help="streamed per round")
    parser.add_argument("--chunks", type=int, default=50, help="tokens per streamed reply")
    parser.add_argument("--itl-ms", type=float, default=0.5, help="gap between streamed tokens")
    parser.add_argument(
        "--phase-warmup", type=int, default=5, help="unmeasured requests before each phase"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--baseline-src", type=Path, default=None, help="src directory of a gateway to compare"
    )
    args = parser.parse_args()

    json_body = request_body(stream=False, tokens=args.chunks)
    stream_body = request_body(stream=True, tokens=args.chunks)
    timing = PacedTiming(itl_s=args.itl_ms / 1e3, output_tokens=args.chunks)
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    rss: dict[str, list[float]] = {}
    with (
        run_emulator_process(EmulatorConfig(timing=timing, timing_log=0)) as upstream,
        tempfile.TemporaryDirectory() as workdir,
        contextlib.ExitStack() as stack,
    ):
        sources = {"slokit": None}
        if args.baseline_src is not None:
            sources["baseline"] = args.baseline_src
        pids: dict[str, int | None] = {"direct": None}
        clients = {"direct": Client(upstream)}
        for name, source in sources.items():
            process, url = start_gateway(upstream, Path(workdir) / f"{name}.log", source=source)
            stack.callback(stop, process)
            pids[name] = process.pid
            clients[name] = Client(url)
            stack.callback(clients[name].close)
        stack.callback(clients["direct"].close)
        for name, client in clients.items():  # warm-up: pools, caches, allocator
            phase(client, json_body, 200, pids[name])
            phase(client, stream_body, 20, pids[name])
        rss = {name: [rss_mb(pid)] for name, pid in pids.items() if pid is not None}
        names = list(clients)
        for round_index in range(args.rounds):
            order = names if round_index % 2 == 0 else names[::-1]
            for name in order:
                # A few unmeasured requests first: the gateway sat idle while the other targets
                # ran, and its first requests after that pay for cold caches.
                phase(clients[name], json_body, args.phase_warmup, None)
                plain = phase(clients[name], json_body, args.requests, pids[name])
                phase(clients[name], stream_body, args.phase_warmup, None)
                streamed = phase(clients[name], stream_body, args.streams, pids[name])
                rows.append(
                    {
                        "round": round_index,
                        "target": name,
                        "json_p50_ms": plain["p50_ms"],
                        "stream_p50_ms": streamed["p50_ms"],
                        "cpu_ms_per_request": plain["cpu_ms"] / args.requests,
                        "cpu_ms_per_stream": streamed["cpu_ms"] / args.streams,
                        "cpu_ms_per_chunk": streamed["cpu_ms"] / (args.streams * args.chunks),
                        "runqueue_ms_per_request": plain["runqueue_ms"] / args.requests,
                        "errors": plain["errors"] + streamed["errors"],
                    }
                )
            print(f"  round {round_index + 1}/{args.rounds} done", flush=True)
        for name, pid in pids.items():
            if pid is not None:
                rss[name].append(rss_mb(pid))
    load_after = os.getloadavg()
    result = summarize(rows, args, rss=rss, load=(load_before, load_after))
    write_json_atomic(args.out, result)
    print_table(result)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def gateway_figures(rows: list[dict[str, Any]], name: str, rss: list[float]) -> dict[str, Any]:
    """One gateway's figures: medians across rounds; added latency against direct, same round."""
    direct = {r["round"]: r for r in rows if r["target"] == "direct"}
    mine = [r for r in rows if r["target"] == name]
    added = [r["json_p50_ms"] - direct[r["round"]]["json_p50_ms"] for r in mine]
    added_stream = [r["stream_p50_ms"] - direct[r["round"]]["stream_p50_ms"] for r in mine]

    def med(key: str) -> float:
        return median(r[key] for r in mine)

    values = {
        "cpu_ms_per_request": med("cpu_ms_per_request"),
        "cpu_ms_per_chunk": med("cpu_ms_per_chunk"),
        "added_p50_ms_at_1": median(added),
        "rss_mb": rss[-1],
    }
    return {
        "values": values,
        "met": {key: values[key] <= TARGETS[key] for key in TARGETS},
        "json_p50_ms": med("json_p50_ms"),
        "stream_p50_ms": med("stream_p50_ms"),
        "added_stream_p50_ms": median(added_stream),
        "added_p50_ms_min_max": [min(added), max(added)],
        "cpu_ms_per_stream": med("cpu_ms_per_stream"),
        "runqueue_ms_per_request": med("runqueue_ms_per_request"),
        "rss_mb_after_warmup": rss[0],
        "rss_mb_change": rss[-1] - rss[0],
        "errors": sum(r["errors"] for r in mine),
    }


def summarize(
    rows: list[dict[str, Any]],
    args: argparse.Namespace,
    *,
    rss: dict[str, list[float]],
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> dict[str, Any]:
    direct = [r for r in rows if r["target"] == "direct"]
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": list(load[0]),
            "load_average_after": list(load[1]),
        },
        "config": {
            "rounds": args.rounds,
            "requests_per_round": args.requests,
            "streams_per_round": args.streams,
            "chunks_per_stream": args.chunks,
            "itl_ms": args.itl_ms,
            "phase_warmup": args.phase_warmup,
            "slokit_version": slokit_version,
            "baseline_src": str(args.baseline_src) if args.baseline_src else None,
            "client": "one blocking keep-alive socket, TCP_NODELAY, concurrency 1",
        },
        "targets": TARGETS,
        "direct": {
            "json_p50_ms": median(r["json_p50_ms"] for r in direct),
            "stream_p50_ms": median(r["stream_p50_ms"] for r in direct),
            "errors": sum(r["errors"] for r in direct),
        },
        "gateways": {name: gateway_figures(rows, name, samples) for name, samples in rss.items()},
        "rounds": rows,
    }


def print_table(result: dict[str, Any]) -> None:
    gateways = result["gateways"]
    load = result["machine"]["load_average_before"][0], result["machine"]["load_average_after"][0]
    print(f"\nload average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f}")
    print(f"{'figure':<28}" + "".join(f"{name:>11}" for name in gateways) + f"{'target':>10}")
    for key, target in TARGETS.items():
        cells = "".join(
            f"{gateways[name]['values'][key]:>10.3f}{' ' if gateways[name]['met'][key] else '!'}"
            for name in gateways
        )
        print(f"{key:<28}{cells}{target:>10.3f}")
    direct = result["direct"]
    rows = [
        ("p50 non-streamed, ms", "json_p50_ms"),
        ("p50 50-chunk stream, ms", "stream_p50_ms"),
        ("CPU per stream, ms", "cpu_ms_per_stream"),
        ("run-queue wait/request, ms", "runqueue_ms_per_request"),
        ("RSS change, MB", "rss_mb_change"),
    ]
    for label, key in rows:
        print(f"{label:<28}" + "".join(f"{gateways[name][key]:>10.3f} " for name in gateways))
    print(
        f"direct: p50 non-streamed {direct['json_p50_ms']:.3f} ms, "
        f"stream {direct['stream_p50_ms']:.2f} ms ('!' marks a missed target)"
    )


if __name__ == "__main__":
    main()
