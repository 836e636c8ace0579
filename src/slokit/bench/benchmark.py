"""A benchmark run end to end: workload to requests, load, summary, run files.

The CLI only parses arguments into a :class:`BenchSettings` and a workload; everything that
turns them into measurements lives here, so it can be driven from Python as well.
"""

from __future__ import annotations

import datetime
import itertools
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from slokit import __version__
from slokit.bench.client import BenchRequest, ClientConfig, Endpoint
from slokit.bench.runner import ClosedLoop, OpenLoop, RunResult, run
from slokit.bench.schedule import ProgressCallback
from slokit.bench.sweep import SweepConfig, SweepPoint, SweepResult, sweep
from slokit.errors import ConfigError, SlokitError
from slokit.results import (
    REQUESTS_FILE,
    RESULTS_FILE,
    SCHEMA_VERSION,
    RecordWriter,
    RequestRecord,
    write_json_atomic,
)
from slokit.results.summary import summarize_run
from slokit.slo import SLOSpec
from slokit.workload import ClosedLoop as ClosedLoopWorkload
from slokit.workload import PoissonArrivals, RequestPlan, Workload

#: Requests planned per closed-loop cycle: a closed loop reuses them in turn until it stops.
CLOSED_LOOP_PLAN_SIZE = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchSettings:
    """Where and how to send a workload's requests."""

    base_url: str
    model: str
    endpoint: Endpoint = "chat"
    stream: bool = True
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 600.0
    max_concurrency: int | None = None
    processes: int | Literal["auto"] = "auto"
    temperature: float = 0.0
    ignore_eos: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("--model: give the model name the endpoint serves")
        if self.endpoint not in ("chat", "completions"):
            raise ConfigError(f"--endpoint must be 'chat' or 'completions', got {self.endpoint}")
        try:
            self.client()
        except ValueError as error:
            raise ConfigError(str(error)) from error

    def client(self) -> ClientConfig:
        return ClientConfig(
            base_url=self.base_url.rstrip("/"), api_key=self.api_key, timeout_s=self.timeout_s
        )

    def describe(self) -> dict[str, Any]:
        """The settings for results.json; the API key is never written."""
        data = asdict(self)
        data.pop("api_key")
        return data


def check_endpoint(settings: BenchSettings, *, timeout_s: float = 5.0) -> None:
    """Fail fast, before any load, when nothing listens at the base URL.

    Any HTTP answer to ``GET {base_url}/models`` (even an error status) shows a server is
    there; only a connection failure stops the run.
    """
    url = f"{settings.base_url.rstrip('/')}/models"
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - http(s) checked in settings
    if settings.api_key:
        request.add_header("Authorization", f"Bearer {settings.api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):  # noqa: S310
            pass
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SlokitError(f"cannot reach {url}: {reason}; is the server running?") from error


def build_requests(plan: RequestPlan, settings: BenchSettings) -> list[BenchRequest]:
    """One request per planned request, with the text the plan materialises.

    Multi-turn sessions carry the plan's stand-in replies for earlier turns: the prompt's
    length and shape are what the workload planned, independent of what the model answered.
    """
    requests = []
    for planned in plan.requests():
        body: dict[str, Any] = {
            "model": settings.model,
            "max_tokens": planned.output_tokens,
            "stream": settings.stream,
            "temperature": settings.temperature,
        }
        if settings.endpoint == "chat":
            body["messages"] = planned.messages()
        else:
            body["prompt"] = planned.prompt()
        if settings.ignore_eos:
            body["ignore_eos"] = True
        body.update(settings.extra_body)
        requests.append(
            BenchRequest(
                scheduled_s=float(planned.arrival_s), endpoint=settings.endpoint, body=body
            )
        )
    return requests


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One load level measured: the runner's result and the summary of its records."""

    result: RunResult
    summary: dict[str, Any]


def measure(
    workload: Workload,
    settings: BenchSettings,
    slo: SLOSpec | None,
    *,
    duration_s: float | None = None,
    on_progress: ProgressCallback | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_planned: Callable[[int | None], None] | None = None,
) -> Measurement:
    """Run ``workload`` against the endpoint and summarise it against ``slo``.

    ``on_planned`` hears how many requests will be sent (``None`` for a closed loop that runs
    for a duration) before the first is sent.
    """
    load: OpenLoop | ClosedLoop
    requests: Iterable[BenchRequest]
    if isinstance(workload.arrivals, ClosedLoopWorkload):
        users = workload.arrivals
        sampler = users.think_sampler(seed=workload.seed)
        counter = itertools.count()
        requests = itertools.cycle(build_requests(workload.plan(), settings))
        load = ClosedLoop(
            users=users.users,
            think_time_s=lambda: sampler.next_s(next(counter) % users.users),
            duration_s=duration_s,
            max_requests=None if duration_s is not None else workload.count,
        )
        planned: int | None = None if duration_s is not None else workload.count
    else:
        requests = build_requests(workload.plan(), settings)
        if not requests:
            raise ConfigError("the workload planned no request: raise --duration or --requests")
        load = OpenLoop(max_concurrency=settings.max_concurrency, processes=settings.processes)
        planned = len(requests)
    if on_planned is not None:
        on_planned(planned)
    result = run(requests, settings.client(), load, on_progress=on_progress, on_warning=on_warning)
    summary = summarize_run(result.records, duration_s=max(result.duration_s, 1e-9), slo=slo)
    summary["generator"] = {
        "processes": result.processes,
        "max_in_flight": result.max_in_flight,
        "lag_exceeded": result.lag_exceeded,
        "warnings": list(result.warnings),
    }
    return Measurement(result=result, summary=summary)


def at_rate(workload: Workload, rate_per_s: float) -> Workload:
    """The same workload with Poisson arrivals at ``rate_per_s`` (a sweep's load levels)."""
    if isinstance(workload.arrivals, ClosedLoopWorkload):
        raise ConfigError("--sweep varies the arrival rate: use --rate, not --concurrency")
    return Workload(
        arrivals=PoissonArrivals(rate_per_s=rate_per_s),
        prompt_tokens=workload.prompt_tokens,
        output_tokens=workload.output_tokens,
        count=workload.count,
        duration_s=workload.duration_s,
        shared_prefix=workload.shared_prefix,
        sessions=workload.sessions,
        repeat_fraction=workload.repeat_fraction,
        paraphrase_fraction=workload.paraphrase_fraction,
        seed=workload.seed,
    )


def sweep_rates(
    workload: Workload,
    settings: BenchSettings,
    slo: SLOSpec,
    config: SweepConfig,
    *,
    on_point: Callable[[float, Measurement], None] | None = None,
) -> tuple[SweepResult, dict[float, Measurement]]:
    """Measure at the rates the sweep asks for; every measurement is kept by rate."""
    measured: dict[float, Measurement] = {}

    def measure_rate(rate: float) -> SweepPoint:
        measurement = measure(at_rate(workload, rate), settings, slo)
        measured[rate] = measurement
        if on_point is not None:
            on_point(rate, measurement)
        summary = measurement.summary
        return SweepPoint(
            rate=rate,
            slo_attainment=summary["slo_attainment"],
            goodput=summary["goodput"],
            details={
                "request_throughput": summary["request_throughput"],
                "ttft_s": summary["ttft_s"],
                "tpot_s": summary["tpot_s"],
                "e2e_s": summary["e2e_s"],
                "failed": summary["requests"]["failed"],
            },
        )

    return sweep(measure_rate, config), measured


def results_document(
    *,
    kind: str,
    config: dict[str, Any],
    slo: SLOSpec | None,
    summary: dict[str, Any],
    sweep_result: SweepResult | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The results.json document (see docs/results.md)."""
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "tool": {"name": "slokit", "version": __version__},
        "config": config,
        "slo": None if slo is None else str(slo),
        "requests_file": REQUESTS_FILE,
        "summary": summary,
    }
    if sweep_result is not None:
        document["sweep"] = sweep_result.to_json()
    if extra:
        document.update(extra)
    return document


def write_run(directory: Path, document: dict[str, Any], records: Iterable[RequestRecord]) -> Path:
    """Write the records, then the results document that names them; returns results.json."""
    with RecordWriter(directory / REQUESTS_FILE) as writer:
        writer.write_all(records)
    path = directory / RESULTS_FILE
    write_json_atomic(path, document)
    return path
