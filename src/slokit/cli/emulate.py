"""``slokit emulate``: serve an OpenAI-compatible endpoint that times its tokens like a profile.

Parsing, printing and the serving loop only; the server lives in :mod:`slokit.emulate`. It runs
until SIGINT or SIGTERM, then closes its connections and exits 0. Exit codes: 0 stopped by a
signal, 2 bad arguments (a port that cannot be listened on included).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack

from slokit.cli.options import count, non_negative
from slokit.emulate import (
    EmulatorConfig,
    ProfileTiming,
    RunningEmulator,
    serve_emulator,
)
from slokit.emulate.timer import tighten_timer_slack
from slokit.errors import ConfigError
from slokit.sim.profiles import EXAMPLE_NAME, load_profile, shipped_profiles
from slokit.workload import ReplayTokens, parse_tokens

NAME = "emulate"
HELP = "Serve an OpenAI-compatible endpoint whose tokens follow a serving profile's timing."

_EXIT_OK = 0
_MAX_PORT = 65_535
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_ENDPOINTS = (
    "POST /v1/chat/completions",
    "POST /v1/completions",
    "GET /v1/models",
    "GET /stats",
    "GET /timings",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``slokit emulate``; values are validated in :func:`run`."""
    names = ", ".join([EXAMPLE_NAME, *shipped_profiles()])
    parser.add_argument(
        "--profile",
        required=True,
        metavar="FILE_OR_NAME",
        help=f"a profile JSON file (see 'slokit calibrate') or a shipped profile: {names}",
    )
    parser.add_argument(
        "--port", required=True, metavar="N", help="TCP port to listen on (0: any free port)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--model",
        metavar="NAME",
        default=None,
        help="model name /v1/models lists; None: the profile's model",
    )
    parser.add_argument("--replicas", default="1", metavar="N", help="replicas of the profile")
    parser.add_argument(
        "--output-tokens",
        default="16",
        metavar="SPEC",
        help="reply length of requests without max_tokens, e.g. 128 or lognormal:mean=128,cv=0.5",
    )
    parser.add_argument(
        "--seed",
        default="0",
        metavar="S",
        help="seed of the reply lengths drawn from --output-tokens",
    )


def run(args: argparse.Namespace) -> int:
    timing, config = _config(args)
    port = _port(args.port)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(config, timing, args.host, port, profile_name=args.profile))


def _config(args: argparse.Namespace) -> tuple[ProfileTiming, EmulatorConfig]:
    profile = load_profile(args.profile)
    sampler = parse_tokens(args.output_tokens, name="--output-tokens")
    if isinstance(sampler, ReplayTokens):
        raise ConfigError(
            f"--output-tokens must be a distribution, not a trace, got {args.output_tokens!r}; "
            "e.g. 128 or lognormal:mean=128,cv=0.5"
        )
    timing = ProfileTiming(
        profile=profile,
        replicas=count(args.replicas, "--replicas"),
        output_tokens=sampler,
        seed=_seed(args.seed),
    )
    model = args.model if args.model is not None else profile.model
    if not model.strip():
        raise ConfigError("--model must be a non-empty model name, e.g. --model llama-3.1-8b")
    return timing, EmulatorConfig(timing=timing, served_model=model)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > _MAX_PORT:
        raise ConfigError(
            f"--port must be a whole number from 0 to {_MAX_PORT} (0: any free port), got {text!r}"
        )
    return int(text)


def _seed(text: str) -> int:
    value = non_negative(text, "--seed", "an integer")
    if not value.is_integer():
        raise ConfigError(f"--seed must be a whole number >= 0, got {text!r}")
    return int(value)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop  # noqa: PLC0415  (optional: the standard loop works, only slower)
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def _serve(
    config: EmulatorConfig, timing: ProfileTiming, host: str, port: int, *, profile_name: str
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    tighten_timer_slack()
    async with AsyncExitStack() as stack:
        try:
            running = await stack.enter_async_context(serve_emulator(config, host=host, port=port))
        except OSError as error:
            raise ConfigError(
                f"--host {host} --port {port}: cannot listen there "
                f"({error.strerror or error}); pick another port, or --port 0 for any free one"
            ) from error
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
            stack.callback(loop.remove_signal_handler, signum)
        _announce(config, timing, running, profile_name)
        await stop.wait()
    print("slokit emulate: stopped", flush=True)
    return _EXIT_OK


def _announce(
    config: EmulatorConfig, timing: ProfileTiming, running: RunningEmulator, profile_name: str
) -> None:
    profile = timing.profile
    replicas = timing.replicas
    plural = "s" if replicas != 1 else ""
    lines = [
        f"slokit emulate: serving model {config.served_model!r} at {running.base_url}",
        (
            f"  profile {profile_name} ({profile.model}): {replicas} replica{plural}, "
            f"max batch {profile.max_batch_size}, KV cache {profile.kv_capacity_tokens} tokens"
        ),
        *(f"  {endpoint}" for endpoint in _ENDPOINTS),
        "  SIGINT (Ctrl-C) or SIGTERM stops it",
    ]
    print("\n".join(lines), flush=True)
