"""Running the gateway: uvicorn (uvloop + httptools) around the app, plus the embedded local
model when no upstream is configured."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import replace

import uvicorn

from slokit.errors import ConfigError
from slokit.gateway.app import GatewayApp, create_app
from slokit.gateway.config import BackendConfig, GatewayConfig, ModelConfig

_logger = logging.getLogger(__name__)


def _uvicorn_config(app: GatewayApp, config: GatewayConfig, *, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        interface="asgi3",
        access_log=False,
        # Measured (benchmarks/gateway_hotpath.py): uvicorn's default proxy-headers middleware
        # wraps every request in one more ASGI call and a header scan; the gateway reads no
        # X-Forwarded-* header, so it is off.
        proxy_headers=False,
        log_level=log_level,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=int(config.shutdown_grace_s) or 1,
        backlog=4096,
    )


def run(
    config: GatewayConfig,
    *,
    announce: Callable[[str], None] = print,
    log_level: str = "warning",
) -> None:
    """:func:`serve` on a uvloop event loop (the standard one where uvloop is missing).

    uvicorn's ``loop="uvloop"`` only applies when uvicorn makes the loop; a caller's
    ``asyncio.run(serve(...))`` runs on the standard loop. Measured on the emulator, one request
    at a time (benchmarks/gateway_hotpath.py): gateway CPU 0.48 -> 0.33 ms per non-streamed
    request, added p50 1.5 -> 0.6 ms.
    """
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(config, announce=announce, log_level=log_level))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop  # noqa: PLC0415  (absent on Windows: the standard loop serves, slower)
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def serve(
    config: GatewayConfig,
    *,
    announce: Callable[[str], None] = print,
    sockets: list[socket.socket] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``config`` until SIGINT/SIGTERM; then drain in-flight streams and stop.

    With ``local_model`` set, the embedded SmolLM2-135M server is started (and restarted if it
    crashes) for the one model the config names, and stopped on exit.
    """
    async with AsyncExitStack() as stack:
        if config.local_model:
            config = await _start_local_model(config, stack, announce)
        app = create_app(config)
        server = uvicorn.Server(_uvicorn_config(app, config, log_level=log_level))
        if not sockets:
            # Listening before announcing: a client that reads the announcement and connects
            # at once waits in the backlog instead of being refused.
            sockets = [_listen(config.host, config.port)]
            stack.callback(sockets[0].close)
        host, port = sockets[0].getsockname()[:2]
        where = f"http://{host}:{port}/v1"
        for model in config.models:
            urls = ", ".join(backend.url for backend in model.backends)
            announce(f"model {model.name} -> {urls}")
        announce(f"slokit gateway on {where} (metrics: /metrics, API: /openapi.json)")
        await server.serve(sockets=sockets)


async def _start_local_model(
    config: GatewayConfig, stack: AsyncExitStack, announce: Callable[[str], None]
) -> GatewayConfig:
    from slokit.backends.local import LocalModelServer  # noqa: PLC0415  (the 'local' extra)

    local = LocalModelServer()
    announce(f"starting the local model {local.model} (llama.cpp) ...")
    await stack.enter_async_context(local)
    announce(f"local model {local.model} serves at {local.base_url} (pid {local.pid})")
    model = ModelConfig(
        name=local.model,
        backends=(BackendConfig(url=local.base_url),),
        schema_form="llama_cpp",  # llama.cpp turns a response_format schema into a grammar
    )
    return replace(config, models=(model,), local_model=False)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it (Linux): the server writes a reply's head and body
    # separately, and Nagle's algorithm against the client's delayed ACK stalls the body ~40 ms.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    listener.listen(4096)
    return listener


@contextmanager
def run_gateway_in_thread(config: GatewayConfig, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``config`` on a free port in a background thread; yield its ``/v1`` base URL.

    The socket listens before this yields, so clients may connect at once: their connections
    wait in the backlog until the server accepts them. For tests and benchmarks.
    """
    listener = _listen(host, 0)
    port = listener.getsockname()[1]
    config = replace(config, host=host, port=port)
    app = create_app(config)
    server = uvicorn.Server(_uvicorn_config(app, config, log_level="warning"))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[listener])
        except BaseException as error:  # surfaced to the caller after join
            errors.append(error)
            raise

    thread = threading.Thread(target=run, name="slokit-gateway", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join()
        listener.close()
    if errors:
        raise errors[0]
