"""The emulator server: OpenAI-compatible endpoints whose replies follow a ``TokenTiming``.

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streamed as server-sent
events or as one JSON reply), ``GET /v1/models``, ``GET /healthz`` and ``GET /stats`` (the
emulator's own counters, for tests and benchmarks to check what the server saw).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import count

import orjson

from slokit.emulate.http import HttpConnection, HttpRequest
from slokit.emulate.openai import (
    DONE_EVENT,
    ChunkFormat,
    Generation,
    Kind,
    RequestError,
    error_body,
    full_reply,
    parse_generation,
)
from slokit.emulate.timer import DeadlineTimer, TimerEntry
from slokit.emulate.timing import TimingRequest, TokenTiming

_GENERATION_PATHS: dict[str, Kind] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
}
_GET_PATHS = ("/healthz", "/v1/models", "/stats")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmulatorConfig:
    """How the emulator answers.

    ``timing`` decides every reply's token times. ``report_usage`` false makes it leave out
    ``usage`` everywhere, as some servers do, so that clients must count chunks.
    ``served_model`` is the model ``/v1/models`` lists; completions accept any model name.
    """

    timing: TokenTiming
    report_usage: bool = True
    served_model: str = "slokit-emulated"

    def __post_init__(self) -> None:
        if not callable(getattr(self.timing, "token_offsets", None)):
            raise TypeError("timing must implement TokenTiming (a token_offsets method)")
        if not self.served_model:
            raise ValueError("served_model must be a non-empty model name")


class EmulatorStats:
    """What the server has seen: completion requests, how many at once, and rejections."""

    __slots__ = ("in_flight", "max_in_flight", "rejected", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.rejected = 0

    def to_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "rejected": self.rejected,
        }


class _Reply:
    """One completion in progress: emits each token at its deadline, then ends the reply."""

    __slots__ = (
        "_app",
        "_connection",
        "_created",
        "_entry",
        "_format",
        "_generation",
        "_index",
        "_offsets",
        "_reply_id",
        "_start_s",
    )

    def __init__(
        self,
        app: EmulatorApp,
        connection: HttpConnection,
        generation: Generation,
        offsets: Iterator[float],
        *,
        reply_id: str,
        start_s: float,
    ) -> None:
        self._app = app
        self._connection = connection
        self._generation = generation
        self._offsets = offsets
        self._reply_id = reply_id
        self._created = int(time.time())
        # Offsets count from the request's arrival, so parsing it is part of the first token.
        self._start_s = start_s
        self._index = 0
        self._entry: TimerEntry | None = None
        self._format = (
            ChunkFormat(generation, reply_id=reply_id, created=self._created)
            if generation.stream
            else None
        )

    def start(self) -> None:
        self._connection.on_abort = self._abort
        if self._format is not None:
            self._connection.start_stream()
            if self._generation.kind == "chat":
                # Like vLLM, the role arrives at once; clients must not take it for a token.
                self._connection.write(self._format.role())
        next_offset_s = next(self._offsets, None)
        if next_offset_s is None:
            self._end()
        else:
            self._entry = self._app.timer.call_at(self._start_s + next_offset_s, self._emit)

    def _emit(self) -> None:
        index = self._index
        self._index = index + 1
        next_offset_s = next(self._offsets, None)
        if self._format is None:
            if next_offset_s is None:
                self._end()
        elif next_offset_s is None:
            self._end(self._format.token(index))
        else:
            self._connection.write(self._format.token(index))
        if next_offset_s is not None:
            self._entry = self._app.timer.call_at(self._start_s + next_offset_s, self._emit)

    def _end(self, last_token: bytes = b"") -> None:
        generation = self._generation
        output_tokens = self._index
        limit = generation.max_tokens
        finish_reason = "length" if limit is not None and output_tokens >= limit else "stop"
        report_usage = self._app.config.report_usage
        self._app.stats.in_flight -= 1
        if self._format is None:
            body = full_reply(
                generation,
                reply_id=self._reply_id,
                created=self._created,
                output_tokens=output_tokens,
                finish_reason=finish_reason,
                report_usage=report_usage,
            )
            self._connection.respond(200, body)
            return
        tail = last_token + self._format.finish(finish_reason)
        if generation.include_usage and report_usage:
            tail += self._format.usage(generation.prompt_tokens, output_tokens)
        self._connection.end(tail + DONE_EVENT)

    def _abort(self) -> None:
        self._app.stats.in_flight -= 1
        if self._entry is not None:
            self._entry.cancel()
        if isinstance(self._offsets, Generator):
            self._offsets.close()


class EmulatorApp:
    """Routes requests and starts replies; one per server."""

    __slots__ = ("_prefix", "_sequence", "config", "connections", "stats", "timer")

    def __init__(self, config: EmulatorConfig, timer: DeadlineTimer) -> None:
        self.config = config
        self.timer = timer
        self.stats = EmulatorStats()
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
            return orjson.dumps(self.stats.to_json())
        model = {"id": self.config.served_model, "object": "model", "owned_by": "slokit"}
        return orjson.dumps({"object": "list", "data": [{**model, "created": 0}]})

    def _generate(self, kind: Kind, request: HttpRequest, connection: HttpConnection) -> None:
        try:
            generation = parse_generation(kind, request.body)
        except RequestError as error:
            self.stats.rejected += 1
            body = error_body(str(error), param=error.param, code=error.code)
            connection.respond(400, body)
            return
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        offsets = self.config.timing.token_offsets(
            TimingRequest(
                prompt_tokens=generation.prompt_tokens,
                max_tokens=generation.max_tokens,
                stream=generation.stream,
            )
        )
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        reply_id = f"{prefix}-{self._prefix}{next(self._sequence):x}"
        reply = _Reply(
            self,
            connection,
            generation,
            iter(offsets),
            reply_id=reply_id,
            start_s=request.received_s,
        )
        reply.start()


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
