"""The load generator: a measuring OpenAI client and an open- or closed-loop runner."""

from slokit.bench.client import (
    ERROR_CONNECT,
    ERROR_DISCONNECTED,
    ERROR_HTTP_4XX,
    ERROR_HTTP_5XX,
    ERROR_PROTOCOL,
    ERROR_STREAM,
    BenchClient,
    BenchRequest,
    ClientConfig,
    Endpoint,
)
from slokit.bench.runner import (
    DEFAULT_LAG_WARNING_S,
    ClosedLoop,
    LagStats,
    OpenLoop,
    RunResult,
    plan_processes,
    run,
    run_async,
)

__all__ = [
    "DEFAULT_LAG_WARNING_S",
    "ERROR_CONNECT",
    "ERROR_DISCONNECTED",
    "ERROR_HTTP_4XX",
    "ERROR_HTTP_5XX",
    "ERROR_PROTOCOL",
    "ERROR_STREAM",
    "BenchClient",
    "BenchRequest",
    "ClientConfig",
    "ClosedLoop",
    "Endpoint",
    "LagStats",
    "OpenLoop",
    "RunResult",
    "plan_processes",
    "run",
    "run_async",
]
