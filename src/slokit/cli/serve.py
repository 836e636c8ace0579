"""``slokit serve``: the OpenAI-compatible gateway with SLO-aware admission control.

Parsing only; the work lives in :mod:`slokit.gateway`. With neither ``--config`` nor
``--backend`` it serves the embedded default, the local SmolLM2-135M model.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path

from slokit.errors import ConfigError
from slokit.gateway.config import GatewayConfig
from slokit.gateway.config_file import load_config, with_backends

NAME = "serve"
HELP = "Serve an OpenAI-compatible gateway that enforces latency SLOs in front of your models."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH", default=None, help="slokit.yaml (see docs/config.md)"
    )
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", default=None, help="port to listen on (default 8080)")
    parser.add_argument(
        "--backend",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="serve model NAME from an OpenAI-compatible base URL (repeat for replicas)",
    )


def build_config(args: argparse.Namespace) -> GatewayConfig:
    """The gateway config the arguments describe (file, then --backend, then host/port)."""
    path = args.config
    config = GatewayConfig(models=()) if path is None else load_config(Path(path))
    if args.backend:
        config = with_backends(config, args.backend)
    if not config.models:
        config = replace(config, local_model=True)
    if args.host is not None:
        config = replace(config, host=args.host)
    if args.port is not None:
        if not args.port.isdigit() or not 0 <= int(args.port) <= 65_535:
            raise ConfigError(f"--port must be a whole number in [0, 65535], got {args.port!r}")
        config = replace(config, port=int(args.port))
    return config


def run(args: argparse.Namespace) -> int:
    from slokit.gateway import server  # noqa: PLC0415  (uvicorn loads only for serve)

    config = build_config(args)
    # The server drains on SIGTERM and then raises the signal again for the handler it found:
    # a quiet one makes a drained stop exit 0, as a deliberate stop should.
    signal.signal(signal.SIGTERM, _drained)
    server.run(config, announce=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


def _drained(*_: object) -> None:
    return None
