"""The gateway's configuration as frozen values, built once at start-up (see config_file.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from slokit.backends.openai_http import Timeouts
from slokit.backends.resilience import BreakerConfig, RetryBudgetConfig
from slokit.errors import ConfigError
from slokit.slo import SLOSpec

PriorityClass = Literal["interactive", "standard", "batch"]
Balancing = Literal["least_outstanding", "prefix_affinity"]
SchemaForm = Literal["openai", "llama_cpp", "none"]
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
ANONYMOUS_TENANT = "anonymous"


def hash_key(api_key: str) -> str:
    """The SHA-256 hex digest under which a tenant's API key is stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendConfig:
    """One replica: an OpenAI-compatible base URL, the model it serves it under, its key."""

    url: str
    upstream_model: str | None = None
    api_key_env: str | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"backend url {self.url!r}: not a URL; write http://host:port/v1")
        if not self.weight > 0:
            raise ConfigError(f"backend weight must be > 0, got {self.weight}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """What a model's calls cost, in US dollars: per million input and output tokens, per call."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    per_request: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok", "per_request"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"price {name} must be >= 0, got {value}")

    def cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (
            self.per_request
            + prompt_tokens * self.input_per_mtok * 1e-6
            + output_tokens * self.output_per_mtok * 1e-6
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """A model clients may name, and the replicas that serve it.

    ``schema_form``: how a request's JSON ``response_format`` goes to its backends: ``openai``
    as the client wrote it (OpenAI, vLLM and SGLang constrain decoding to a ``json_schema``),
    ``llama_cpp`` in llama.cpp's form (``json_object`` with the ``schema`` beside it; the
    llama-cpp-python server refuses ``json_schema``), ``none`` left out (for backends that
    reject it): the structured stage validates, repairs and re-asks on the CPU in every case.
    ``balancing``: how a replica is chosen: least outstanding requests per unit of weight, or
    ``prefix_affinity``: requests whose first ``affinity_prefix_chars`` characters of prompt
    are the same go to the same replica (its KV cache holds that prefix) unless it carries
    more than ``affinity_load_factor`` times the mean load.
    """

    name: str
    backends: tuple[BackendConfig, ...]
    slo: SLOSpec | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    price: Price | None = None
    schema_form: SchemaForm = "openai"
    balancing: Balancing = "least_outstanding"
    affinity_prefix_chars: int = 1024
    affinity_load_factor: float = 1.25

    def __post_init__(self) -> None:
        if not self.backends:
            raise ConfigError(f"model {self.name!r} needs at least one backend")
        if self.affinity_prefix_chars < 1:
            raise ConfigError(
                f"models.{self.name}.affinity_prefix_chars must be >= 1, "
                f"got {self.affinity_prefix_chars}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantConfig:
    """A client of the gateway: its key's hash, rate limits and priority class."""

    name: str
    key_sha256: str
    requests_per_s: float | None = None
    tokens_per_min: float | None = None
    priority: PriorityClass = "standard"
    slo: SLOSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionConfig:
    """SLO-aware admission per model, run by the pure objects of ``slokit.policies.admission``.

    ``max_concurrency=None``: no admission stage (everything goes upstream at once). Otherwise
    each model gets a concurrency limit that starts at ``max_concurrency`` (or
    ``initial_concurrency``) and, when a latency budget is known, moves within
    ``[min_concurrency, max_concurrency]`` towards the knee of the upstream's throughput, its
    mean service time within ``service_share`` of the budget. A request's budget is the
    tightest ``e2e`` objective of its tenant's SLO, else of its model's, else ``budget_s``
    (``None``: no budget, the limit stays fixed and only ``max_wait_s`` and ``max_queue``
    shed). ``max_queue``: calls that may wait per model; ``max_wait_s``: the longest any call
    waits; ``service_quantile`` of the last ``service_window`` service times: what deadlines
    and predicted waits reckon with; ``smoothing``, ``max_step`` and ``probe_gain``: see
    :class:`slokit.policies.ConcurrencyConfig`.
    """

    max_concurrency: int | None = None
    initial_concurrency: int | None = None
    min_concurrency: int = 1
    adaptive: bool = True
    budget_s: float | None = None
    service_share: float = 0.5
    max_queue: int = 1024
    max_wait_s: float = 5.0
    smoothing: float = 0.1
    max_step: float = 2.0
    service_quantile: float = 0.95
    service_window: int = 64
    probe_gain: float = 0.25

    def __post_init__(self) -> None:
        who = "stages.admission"
        top = self.max_concurrency
        if top is not None:
            start = top if self.initial_concurrency is None else self.initial_concurrency
            if not 1 <= self.min_concurrency <= start <= top:
                raise ConfigError(
                    f"{who}: need 1 <= min_concurrency <= initial_concurrency <= max_concurrency"
                )
        if self.budget_s is not None and not self.budget_s > 0:
            raise ConfigError(f"{who}: 'budget' must be > 0 s, got {self.budget_s}")
        if not 0 < self.service_share <= 1:
            raise ConfigError(f"{who}: 'service_share' must be in (0, 1], got {self.service_share}")
        if self.max_queue < 0:
            raise ConfigError(f"{who}: 'max_queue' must be >= 0, got {self.max_queue}")
        if not self.max_wait_s > 0:
            raise ConfigError(f"{who}: 'max_wait' must be > 0 s, got {self.max_wait_s}")
        if not 0 < self.service_quantile <= 1:
            raise ConfigError(
                f"{who}: 'service_quantile' must be in (0, 1], got {self.service_quantile}"
            )
        if self.service_window < 1:
            raise ConfigError(f"{who}: 'service_window' must be >= 1, got {self.service_window}")
        if not 0 <= self.probe_gain <= 1:
            raise ConfigError(f"{who}: 'probe_gain' must be in [0, 1], got {self.probe_gain}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    """A routed alias (e.g. ``auto``): its requests go to the model a trained router picks.

    ``router`` is a file from ``slokit route train``; ``models`` maps the router's model names
    to the gateway's (unmapped names are taken as they are); ``tradeoff`` overrides the
    router's calibrated threshold (see docs/routing.md); ``fallback`` serves the request when
    the router cannot score it (no prompt text).
    """

    name: str
    router: Path
    fallback: str
    models: tuple[tuple[str, str], ...] = ()
    tradeoff: float | None = None

    def __post_init__(self) -> None:
        if self.tradeoff is not None and not self.tradeoff >= 0:
            raise ConfigError(f"routes.{self.name}.tradeoff must be >= 0, got {self.tradeoff}")

    def gateway_model(self, router_model: str) -> str:
        return dict(self.models).get(router_model, router_model)


CacheStoreKind = Literal["memory", "sqlite", "redis", "pgvector"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStageConfig:
    """The response cache in front of the models (docs/cache.md).

    Exact hits always; semantic hits when ``calibration`` (from ``slokit cache calibrate``)
    is given, with the embedder it was calibrated with. ``store``: ``memory`` (this process),
    ``sqlite`` at ``path`` (kept across restarts), ``redis`` (exact hits shared by gateway
    replicas) or ``pgvector`` (exact and semantic hits shared; needs ``calibration``) at the
    URL in the environment variable ``url_env`` (URLs carry passwords: never in the file).
    Sampled requests (temperature > 0) are served from the cache only when ``allow_sampled``.
    Replies cut at ``max_tokens`` (``finish_reason: length``) are stored only with
    ``store_length_limited``: the key holds ``max_tokens``, so only requests with the same
    limit get them.
    """

    store: CacheStoreKind = "memory"
    path: Path | None = None
    url_env: str | None = None
    ttl_s: float = 3600.0
    capacity: int = 100_000
    calibration: Path | None = None
    allow_sampled: bool = False
    store_length_limited: bool = False

    def __post_init__(self) -> None:
        if self.store == "sqlite" and self.path is None:
            raise ConfigError("stages.cache.path: required with store: sqlite; write a file path")
        if self.store in ("redis", "pgvector") and self.url_env is None:
            raise ConfigError(
                f"stages.cache.url_env: required with store: {self.store}; name the environment "
                "variable that holds the server's URL"
            )
        if self.store == "pgvector" and self.calibration is None:
            raise ConfigError(
                "stages.cache.calibration: required with store: pgvector (a semantic store); "
                "use store: redis for a shared exact cache"
            )
        if not self.ttl_s > 0:
            raise ConfigError(f"stages.cache.ttl must be > 0 s, got {self.ttl_s}")
        if self.capacity < 1:
            raise ConfigError(f"stages.cache.capacity must be >= 1, got {self.capacity}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StructuredStageConfig:
    """Structured output for requests with a JSON ``response_format`` (docs/structured.md).

    ``max_reasks`` model calls at most per request when repair on the CPU fails, and
    ``reask_max_tokens`` the most output tokens each may use; 0 re-asks: never call again.
    """

    enabled: bool = True
    max_reasks: int = 1
    reask_max_tokens: int = 1024

    def __post_init__(self) -> None:
        if self.max_reasks < 0:
            raise ConfigError(f"stages.structured.max_reasks must be >= 0, got {self.max_reasks}")
        if self.reask_max_tokens < 1:
            raise ConfigError(
                f"stages.structured.reask_max_tokens must be >= 1, got {self.reask_max_tokens}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryConfig:
    """Per-request log in the bench record format, and OpenTelemetry spans (an extra)."""

    request_log: Path | None = None
    tracing: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """Everything ``create_app`` needs; ``local_model`` serves the embedded SmolLM2 default."""

    models: tuple[ModelConfig, ...]
    tenants: tuple[TenantConfig, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    shutdown_grace_s: float = 30.0
    admission: AdmissionConfig = field(default_factory=AdmissionConfig)
    retry_budget: RetryBudgetConfig = field(default_factory=RetryBudgetConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    max_attempts: int = 3
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    routes: tuple[RouteConfig, ...] = ()
    cache: CacheStageConfig | None = None
    structured: StructuredStageConfig = field(default_factory=StructuredStageConfig)
    local_model: bool = False

    def __post_init__(self) -> None:
        names = [model.name for model in self.models]
        if len(set(names)) != len(names):
            raise ConfigError("models: a model name appears twice; keep one")
        for route in self.routes:
            if route.name in names:
                raise ConfigError(
                    f"routes.{route.name}: a model has this name too; give the alias another"
                )
            for target in (route.fallback, *(model for _, model in route.models)):
                if target not in names:
                    raise ConfigError(
                        f"routes.{route.name}: no model {target!r} under models; add it or "
                        "map the router's model names to configured ones"
                    )
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.max_body_bytes < 1:
            raise ConfigError(f"max_body_bytes must be >= 1, got {self.max_body_bytes}")

    def model(self, name: str) -> ModelConfig | None:
        return next((model for model in self.models if model.name == name), None)

    def route(self, name: str) -> RouteConfig | None:
        return next((route for route in self.routes if route.name == name), None)
