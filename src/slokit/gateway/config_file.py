"""Reading ``slokit.yaml`` and ``--backend NAME=URL`` into a :class:`GatewayConfig`.

The file is validated with pydantic at this edge only; every error names the key path and the
fix, e.g. ``models.gpt.backends[0].url: not a URL; write http://host:port/v1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from slokit.backends.openai_http import Timeouts
from slokit.backends.resilience import BreakerConfig, RetryBudgetConfig
from slokit.errors import ConfigError
from slokit.gateway.config import (
    AdmissionConfig,
    BackendConfig,
    CacheStageConfig,
    GatewayConfig,
    ModelConfig,
    Price,
    RouteConfig,
    StructuredStageConfig,
    TelemetryConfig,
    TenantConfig,
)
from slokit.slo import SLOSpec, parse_slo

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m)?\s*$")
_UNIT_S = {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _duration(value: object) -> object:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("not a duration; write seconds (2.5) or with a unit (500ms, 2s, 1m)")
        return float(match[1]) * _UNIT_S[match[2]]
    return value


def _url(value: object) -> object:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s:]+(:\d+)?(/\S*)?$", value):
        raise ValueError("not a URL; write http://host:port/v1")
    return value


def _slo(value: object) -> object:
    if value is None or isinstance(value, SLOSpec):
        return value
    if not isinstance(value, str):
        raise ValueError(  # noqa: TRY004  (pydantic reports ValueErrors at the key path)
            "not an SLO; write objectives such as 'ttft_p99<=500ms, e2e<=5s'"
        )
    return parse_slo(value)  # SLOSpecError is a ValueError: pydantic reports it at the key


def _sha256(value: object) -> object:
    if not isinstance(value, str) or not _HEX64.match(value.lower()):
        raise ValueError(
            "not a SHA-256 hex digest; write the output of "
            '`printf %s "$KEY" | sha256sum` (64 hex digits), never the key itself'
        )
    return value.lower()


Seconds = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
Url = Annotated[str, BeforeValidator(_url)]
Slo = Annotated[Any, BeforeValidator(_slo)]
Sha256 = Annotated[str, BeforeValidator(_sha256)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Backend(_Strict):
    url: Url
    model: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    weight: float = Field(default=1.0, gt=0)


class _Timeouts(_Strict):
    connect: Seconds = 5.0
    first_token: Seconds = 60.0
    inter_chunk: Seconds = 30.0
    total: Seconds = 600.0


class _Price(_Strict):
    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    per_request: float = Field(default=0.0, ge=0)


class _Model(_Strict):
    backends: list[_Backend] = Field(min_length=1)
    slo: Slo = None
    timeouts: _Timeouts = _Timeouts()
    price: _Price | None = None
    schema_form: Literal["openai", "llama_cpp", "none"] = "openai"
    balancing: Literal["least_outstanding", "prefix_affinity"] = "least_outstanding"
    affinity_prefix_chars: int = Field(default=1024, ge=1)
    affinity_load_factor: float = Field(default=1.25, ge=1)


class _Route(_Strict):
    router: Path
    fallback: str
    models: dict[str, str] = Field(default_factory=dict)
    tradeoff: float | None = Field(default=None, ge=0)


class _Tenant(_Strict):
    key_sha256: Sha256
    requests_per_s: float | None = Field(default=None, gt=0)
    tokens_per_min: float | None = Field(default=None, gt=0)
    priority: Literal["interactive", "standard", "batch"] = "standard"
    slo: Slo = None


class _Server(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65_535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    shutdown_grace: Seconds = 30.0


class _Admission(_Strict):
    max_concurrency: int | None = Field(default=None, ge=1)
    initial_concurrency: int | None = Field(default=None, ge=1)
    min_concurrency: int = Field(default=1, ge=1)
    adaptive: bool = True
    budget: Seconds | None = None
    service_share: float = Field(default=0.5, gt=0, le=1)
    max_queue: int = Field(default=1024, ge=0)
    max_wait: Seconds = 5.0
    smoothing: float = Field(default=0.1, gt=0, le=1)
    max_step: float = Field(default=2.0, gt=1)
    service_quantile: float = Field(default=0.95, gt=0, le=1)
    service_window: int = Field(default=64, ge=1)
    probe_gain: float = Field(default=0.25, ge=0, le=1)


class _Retry(_Strict):
    budget_ratio: float = Field(default=0.1, ge=0, le=1)
    initial: float = Field(default=1.0, ge=0, le=10)
    max_attempts: int = Field(default=3, ge=1, le=10)


class _Breaker(_Strict):
    failures: int = Field(default=5, ge=1)
    cooldown: Seconds = 10.0


class _Cache(_Strict):
    store: Literal["memory", "sqlite", "redis", "pgvector"] = "memory"
    path: Path | None = None
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    ttl: Seconds = 3600.0
    capacity: int = Field(default=100_000, ge=1)
    calibration: Path | None = None
    allow_sampled: bool = False
    store_length_limited: bool = False


class _Structured(_Strict):
    enabled: bool = True
    max_reasks: int = Field(default=1, ge=0, le=10)
    reask_max_tokens: int = Field(default=1024, ge=1)


class _Stages(_Strict):
    admission: _Admission = _Admission()
    retry: _Retry = _Retry()
    circuit_breaker: _Breaker = _Breaker()
    cache: _Cache | None = None
    structured: _Structured = _Structured()


class _Telemetry(_Strict):
    request_log: Path | None = None
    tracing: bool = False


class _File(_Strict):
    server: _Server = _Server()
    models: dict[str, _Model] = Field(default_factory=dict)
    routes: dict[str, _Route] = Field(default_factory=dict)
    tenants: dict[str, _Tenant] = Field(default_factory=dict)
    stages: _Stages = _Stages()
    telemetry: _Telemetry = _Telemetry()


def _key_path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(("function-", "constrained-")):
            path += f".{part}" if path else part
    return path or "(top level)"


def _fix(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling (docs/config.md lists every key)"
    if kind == "missing":
        return "required; add it (docs/config.md)"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return "not an environment variable name; write e.g. OPENAI_API_KEY (the name, not the key)"
    if kind.startswith(("greater_than", "less_than")) or kind in ("int_parsing", "float_parsing"):
        return f"{error['msg'][0].lower()}{error['msg'][1:]}; got {error.get('input')!r}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}"


def parse_config(data: object, *, source: str = "slokit.yaml") -> GatewayConfig:
    """Validate a loaded YAML document; raise :class:`ConfigError` naming key path and fix."""
    if data is None:
        data = {}
    try:
        parsed = _File.model_validate(data)
    except pydantic.ValidationError as error:
        lines = [f"{_key_path(e['loc'])}: {_fix(e)}" for e in error.errors()]
        raise ConfigError(f"{source}: " + "\n  ".join(lines)) from None
    try:
        return _gateway_config(parsed)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def _gateway_config(parsed: _File) -> GatewayConfig:
    stages = parsed.stages
    models = tuple(
        ModelConfig(
            name=name,
            backends=tuple(
                BackendConfig(
                    url=b.url, upstream_model=b.model, api_key_env=b.api_key_env, weight=b.weight
                )
                for b in model.backends
            ),
            slo=model.slo,
            timeouts=Timeouts(
                connect_s=model.timeouts.connect,
                first_token_s=model.timeouts.first_token,
                inter_chunk_s=model.timeouts.inter_chunk,
                total_s=model.timeouts.total,
            ),
            price=None
            if model.price is None
            else Price(
                input_per_mtok=model.price.input,
                output_per_mtok=model.price.output,
                per_request=model.price.per_request,
            ),
            schema_form=model.schema_form,
            balancing=model.balancing,
            affinity_prefix_chars=model.affinity_prefix_chars,
            affinity_load_factor=model.affinity_load_factor,
        )
        for name, model in parsed.models.items()
    )
    routes = tuple(
        RouteConfig(
            name=name,
            router=route.router,
            fallback=route.fallback,
            models=tuple(route.models.items()),
            tradeoff=route.tradeoff,
        )
        for name, route in parsed.routes.items()
    )
    tenants = tuple(
        TenantConfig(
            name=name,
            key_sha256=tenant.key_sha256,
            requests_per_s=tenant.requests_per_s,
            tokens_per_min=tenant.tokens_per_min,
            priority=tenant.priority,
            slo=tenant.slo,
        )
        for name, tenant in parsed.tenants.items()
    )
    if len({t.key_sha256 for t in tenants}) != len(tenants):
        raise ConfigError("tenants: two tenants share one key; give each its own")
    cache = stages.cache
    structured = stages.structured
    return GatewayConfig(
        models=models,
        tenants=tenants,
        routes=routes,
        cache=None
        if cache is None
        else CacheStageConfig(
            store=cache.store,
            path=cache.path,
            url_env=cache.url_env,
            ttl_s=cache.ttl,
            capacity=cache.capacity,
            calibration=cache.calibration,
            allow_sampled=cache.allow_sampled,
            store_length_limited=cache.store_length_limited,
        ),
        structured=StructuredStageConfig(
            enabled=structured.enabled,
            max_reasks=structured.max_reasks,
            reask_max_tokens=structured.reask_max_tokens,
        ),
        host=parsed.server.host,
        port=parsed.server.port,
        max_body_bytes=parsed.server.max_body_bytes,
        shutdown_grace_s=parsed.server.shutdown_grace,
        admission=_admission(stages.admission),
        retry_budget=RetryBudgetConfig(
            ratio=stages.retry.budget_ratio, initial=stages.retry.initial
        ),
        max_attempts=stages.retry.max_attempts,
        breaker=BreakerConfig(
            failures=stages.circuit_breaker.failures, cooldown_s=stages.circuit_breaker.cooldown
        ),
        telemetry=TelemetryConfig(
            request_log=parsed.telemetry.request_log, tracing=parsed.telemetry.tracing
        ),
    )


def _admission(parsed: _Admission) -> AdmissionConfig:
    return AdmissionConfig(
        max_concurrency=parsed.max_concurrency,
        initial_concurrency=parsed.initial_concurrency,
        min_concurrency=parsed.min_concurrency,
        adaptive=parsed.adaptive,
        budget_s=parsed.budget,
        service_share=parsed.service_share,
        max_queue=parsed.max_queue,
        max_wait_s=parsed.max_wait,
        smoothing=parsed.smoothing,
        max_step=parsed.max_step,
        service_quantile=parsed.service_quantile,
        service_window=parsed.service_window,
        probe_gain=parsed.probe_gain,
    )


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a ``slokit.yaml`` file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file '{path}': {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}; check the indentation") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys such as 'models' and 'tenants'")
    return parse_config(data, source=str(path))


def parse_backend_option(text: str) -> tuple[str, str]:
    """``NAME=URL`` from ``--backend``, checked: the model name and the base URL."""
    name, sep, url = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--backend {text!r}: write NAME=URL, e.g. gpt=http://127.0.0.1:8000/v1")
    try:
        _url(url.strip())
    except ValueError:
        raise ConfigError(f"--backend {text!r}: not a URL; write http://host:port/v1") from None
    return name.strip(), url.strip()


def with_backends(config: GatewayConfig, options: Sequence[str]) -> GatewayConfig:
    """``config`` plus the ``--backend NAME=URL`` models (replicas of one NAME are merged)."""
    grouped: dict[str, list[BackendConfig]] = {}
    for option in options:
        name, url = parse_backend_option(option)
        grouped.setdefault(name, []).append(BackendConfig(url=url))
    models = [m for m in config.models if m.name not in grouped]
    models += [ModelConfig(name=n, backends=tuple(b)) for n, b in grouped.items()]
    return replace(config, models=tuple(models))
