"""The emulator server: OpenAI-compatible endpoints whose replies follow a token timing.

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streamed as server-sent
events or as one JSON reply), ``GET /v1/models``, ``GET /healthz``, ``GET /stats`` (the
emulator's own counters, its CPU time and the serving model's state) and ``GET /timings`` (the
token times of recent replies), for tests and benchmarks to check what the server did.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import count
from typing import Any

import orjson

from slokit.emulate.engine import ServingModel, TokenEngine, engine_for
from slokit.emulate.http import HttpConnection, HttpRequest
from slokit.emulate.openai import Kind, RequestError, error_body, parse_generation
from slokit.emulate.reply import Reply
from slokit.emulate.stats import EmulatorStats, ReplyLog
from slokit.emulate.timer import DeadlineTimer
from slokit.emulate.timing import TimingRequest, TokenTiming

_GENERATION_PATHS: dict[str, Kind] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
}
_GET_PATHS = ("/healthz", "/v1/models", "/stats", "/timings")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """How the emulator answers.

    ``timing`` decides every reply's token times: a per-request
    :class:`~slokit.emulate.timing.TokenTiming` such as ``FixedTiming``, or a
    :class:`~slokit.emulate.engine.ServingModel` such as ``ProfileTiming`` that batches
    concurrent requests. ``report_usage`` false makes it leave out ``usage`` everywhere, as
    some servers do, so that clients must count chunks. ``served_model`` is the model
    ``/v1/models`` lists; completions accept any model name. ``timing_log`` is how many ended
    replies ``/timings`` keeps (0: none, and no token is timestamped).
    """

    timing: TokenTiming | ServingModel
    report_usage: bool = True
    served_model: str = "slokit-emulated"
    timing_log: int = 1024

    def __post_init__(self) -> None:
        timing = self.timing
        if not isinstance(timing, ServingModel) and not callable(
            getattr(timing, "token_offsets", None)
        ):
            raise TypeError(
                "timing must implement TokenTiming (token_offsets) or ServingModel (engine)"
            )
        if not self.served_model:
            raise ValueError("served_model must be a non-empty model name")
        if isinstance(self.timing_log, bool) or self.timing_log < 0:
            raise ValueError(f"timing_log must be an integer >= 0, got {self.timing_log!r}")


class EmulatorApp:
    """Routes requests and starts replies; one per server."""

    __slots__ = ("_prefix", "_sequence", "config", "connections", "engine", "log", "stats")

    def __init__(self, config: EmulatorConfig, timer: DeadlineTimer) -> None:
        self.config = config
        self.engine: TokenEngine = engine_for(config.timing, timer)
        self.stats = EmulatorStats()
        self.log = ReplyLog(config.timing_log) if config.timing_log else None
        self.connections: set[HttpConnection] = set()
        self._sequence = count(1)
        self._prefix = secrets.token_hex(4)

    def connection(self) -> HttpConnection:
        return HttpConnection(self.handle, _parse_error_body, self.connections)

    def handle(self, request: HttpRequest, connection: HttpConnection) -> None:
        kind = _GENERATION_PATHS.get(request.path)
        if kind is not None and request.method == "POST":
            self._generate(kind, request, connection)
        elif request.method == "GET" and request.path in _GET_PATHS:
            connection.respond(200, self._get(request.path))
        elif kind is not None or request.path in _GET_PATHS:
            message = f"method {request.method} is not allowed on {request.path}"
            connection.respond(405, error_body(message, code="method_not_allowed"))
        else:
            message = f"Invalid URL ({request.method} {request.path})"
            connection.respond(404, error_body(message, code="not_found"))

    def _get(self, path: str) -> bytes:
        if path == "/healthz":
            return b'{"status":"ok"}'
        if path == "/stats":
            body: dict[str, Any] = {**self.stats.to_json(), "cpu_s": time.process_time()}
            state = self.engine.describe()
            if state:
                body["model"] = state
            return orjson.dumps(body)
        if path == "/timings":
            return orjson.dumps(self.log.to_json() if self.log is not None else {"replies": []})
        model = {"id": self.config.served_model, "object": "model", "owned_by": "slokit"}
        return orjson.dumps({"object": "list", "data": [{**model, "created": 0}]})

    def _generate(self, kind: Kind, request: HttpRequest, connection: HttpConnection) -> None:
        stats = self.stats
        try:
            generation = parse_generation(kind, request.body)
        except RequestError as error:
            stats.rejected += 1
            connection.respond(400, error_body(str(error), param=error.param, code=error.code))
            return
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        reply = Reply(
            connection,
            generation,
            reply_id=f"{prefix}-{self._prefix}{next(self._sequence):x}",
            arrival_s=request.received_s,
            stats=stats,
            log=self.log,
            report_usage=self.config.report_usage,
        )
        timing_request = TimingRequest(
            prompt_tokens=generation.prompt_tokens,
            max_tokens=generation.max_tokens,
            stream=generation.stream,
            prefix_group=generation.prefix_group,
            prefix_tokens=generation.prefix_tokens,
        )
        try:
            cancel = self.engine.start(timing_request, reply, request.received_s)
        except RequestError as error:
            stats.rejected += 1
            connection.respond(400, error_body(str(error), param=error.param, code=error.code))
            return
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        reply.open(cancel)


def _parse_error_body(status: int, message: str) -> bytes:
    return error_body(message, code="bad_request" if status == 400 else str(status))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningEmulator:
    """A started emulator: where it listens and its live counters."""

    host: str
    port: int
    stats: EmulatorStats

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (the root plus ``/v1``), as the OpenAI SDK takes it."""
        return f"{self.url}/v1"


@asynccontextmanager
async def serve_emulator(
    config: EmulatorConfig, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningEmulator]:
    """Serve the emulator on the running loop; ``port=0`` picks a free port."""
    loop = asyncio.get_running_loop()
    timer = DeadlineTimer(loop)
    app = EmulatorApp(config, timer)
    try:
        server = await loop.create_server(app.connection, host, port, backlog=4096)
    except BaseException:
        timer.close()
        raise
    bound_port = server.sockets[0].getsockname()[1]
    try:
        yield RunningEmulator(host=host, port=bound_port, stats=app.stats)
    finally:
        server.close()
        for connection in list(app.connections):
            connection.close()  # idle keep-alive connections would hold wait_closed forever
        await server.wait_closed()
        timer.close()
