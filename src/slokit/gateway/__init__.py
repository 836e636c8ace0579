"""The gateway: an OpenAI-compatible ASGI app whose stage pipeline enforces SLOs."""

from slokit.gateway.app import GatewayApp, create_app
from slokit.gateway.config import (
    AdmissionConfig,
    BackendConfig,
    GatewayConfig,
    ModelConfig,
    TelemetryConfig,
    TenantConfig,
    hash_key,
)
from slokit.gateway.config_file import load_config, parse_config, with_backends
from slokit.gateway.pipeline import Call, Handler, Reply, Stage, compose
from slokit.gateway.server import run_gateway_in_thread, serve

__all__ = [
    "AdmissionConfig",
    "BackendConfig",
    "Call",
    "GatewayApp",
    "GatewayConfig",
    "Handler",
    "ModelConfig",
    "Reply",
    "Stage",
    "TelemetryConfig",
    "TenantConfig",
    "compose",
    "create_app",
    "hash_key",
    "load_config",
    "parse_config",
    "run_gateway_in_thread",
    "serve",
    "with_backends",
]
