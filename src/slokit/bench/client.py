"""The measuring client: one pooled HTTP session, one ``RequestRecord`` per request.

Times are ``time.monotonic()`` readings minus the run's start (the same clock in every process
of a run: on Linux it is ``CLOCK_MONOTONIC``, system-wide). A request never raises: what went
wrong is its record's error class::

    http_4xx       the server answered 400-499 (``status`` holds the code)
    http_5xx       the server answered 500 or above
    connect        no connection could be made (refused, unreachable, DNS)
    disconnected   the connection broke while the reply was being read
    timeout        the reply was not complete within the per-request timeout
    protocol       the reply was not valid HTTP, SSE or JSON
    stream_error   the server reported an error inside the stream (``data: {"error": ...}``)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
import orjson

from slokit.results.record import TIMEOUT_ERROR, RequestRecord

Endpoint = Literal["chat", "completions"]
_PATHS: dict[str, str] = {"chat": "/chat/completions", "completions": "/completions"}

ERROR_HTTP_4XX = "http_4xx"
ERROR_HTTP_5XX = "http_5xx"
ERROR_CONNECT = "connect"
ERROR_DISCONNECTED = "disconnected"
ERROR_PROTOCOL = "protocol"
ERROR_STREAM = "stream_error"

#: Fields of a streamed choice whose non-empty text is generated output. Reasoning models
#: stream their thoughts first; those are tokens too (as vLLM's benchmark counts them).
_DELTA_TEXT_FIELDS = ("content", "reasoning_content", "reasoning")


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchRequest:
    """One request of a run: when to send it (seconds from the run's start), where, and what.

    ``body`` is the JSON payload (model, messages or prompt, max_tokens, stream, ...).
    """

    scheduled_s: float
    endpoint: Endpoint
    body: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not self.scheduled_s >= 0 or self.scheduled_s == float("inf"):
            raise ValueError(f"scheduled_s must be a finite time >= 0, got {self.scheduled_s}")
        if self.endpoint not in _PATHS:
            raise ValueError(f"endpoint must be 'chat' or 'completions', got {self.endpoint!r}")

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Where to send and how.

    ``base_url`` is the OpenAI base URL (``http://host:port/v1``). ``max_connections`` caps the
    pool (0: no cap); a capped pool makes requests wait for a connection after their send time
    is taken, which shows as time to first token, so cap only on purpose.
    """

    base_url: str
    api_key: str | None = None
    max_connections: int = 0
    timeout_s: float = 600.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://: {self.base_url!r}")
        if self.max_connections < 0:
            raise ValueError(
                f"max_connections must be >= 0 (0: no cap), got {self.max_connections}"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {self.timeout_s}")


class _StreamState:
    """What a server-sent event stream has told so far."""

    __slots__ = (
        "chunk_times_s",
        "content_chunks",
        "data_lines",
        "error",
        "first_token_s",
        "output_tokens",
        "pending",
        "prompt_tokens",
    )

    def __init__(self) -> None:
        self.pending = b""
        self.data_lines: list[bytes] = []
        self.first_token_s: float | None = None
        self.chunk_times_s: list[float] = []
        self.content_chunks = 0
        self.prompt_tokens: int | None = None
        self.output_tokens: int | None = None
        self.error: str | None = None

    def feed(self, data: bytes, now_s: float) -> None:
        """Take bytes that arrived at ``now_s``; every event completed by them gets that time."""
        buffer = self.pending + data if self.pending else data
        position = 0
        while (line_end := buffer.find(b"\n", position)) >= 0:
            line = buffer[position:line_end]
            position = line_end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self.data_lines:
                    self._event(b"\n".join(self.data_lines), now_s)
                    self.data_lines.clear()
            elif line.startswith(b"data:"):
                value = line[5:]
                self.data_lines.append(value[1:] if value.startswith(b" ") else value)
            # Comments (": keep-alive") and other fields carry no tokens.
        self.pending = buffer[position:]

    def finish(self, now_s: float) -> None:
        """The stream ended: an event not followed by a blank line still counts."""
        if self.pending:
            self.feed(b"\n", now_s)
        if self.data_lines:
            self._event(b"\n".join(self.data_lines), now_s)
            self.data_lines.clear()

    def _event(self, payload: bytes, now_s: float) -> None:
        if payload == b"[DONE]" or self.error is not None:
            return
        # A full parse of every chunk. Measured: orjson takes ~1.4 us for a 200-byte chunk, a
        # substring test ~0.5 us, and the client spends ~21 us per chunk in all (325 us per
        # non-streamed request, 494 us with 8 chunks): the test would save ~4% and would
        # misread pretty-printed JSON or a "content" key elsewhere.
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.error = ERROR_PROTOCOL
            return
        if not isinstance(event, dict):
            self.error = ERROR_PROTOCOL
            return
        if event.get("error"):
            self.error = ERROR_STREAM
            return
        choices = event.get("choices")
        if (
            choices
            and isinstance(choices, list)
            and isinstance(choices[0], dict)
            and _choice_text(choices[0])
        ):
            if self.first_token_s is None:
                self.first_token_s = now_s
            self.chunk_times_s.append(now_s)
            self.content_chunks += 1
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.take_usage(usage)

    def take_usage(self, usage: dict[str, Any]) -> None:
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int):
            self.prompt_tokens = prompt
        if isinstance(completion, int):
            self.output_tokens = completion


def _choice_text(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return any(delta.get(name) for name in _DELTA_TEXT_FIELDS)
    return bool(choice.get("text"))


class BenchClient:
    """Sends requests over one pooled, keep-alive session and measures each one.

    Use as ``async with BenchClient(config) as client: record = await client.send(...)``.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        base = config.base_url.rstrip("/")
        self._urls = {endpoint: base + path for endpoint, path in _PATHS.items()}

    async def __aenter__(self) -> Self:
        headers = {"Content-Type": "application/json", **self.config.headers}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        connector = aiohttp.TCPConnector(
            limit=self.config.max_connections, limit_per_host=0, ttl_dns_cache=300
        )
        # The per-request timeout is applied in send(), around the whole exchange.
        self._session = aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=None)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        request: BenchRequest,
        *,
        request_id: int,
        run_start_s: float,
        scheduled_s: float | None = None,
    ) -> RequestRecord:
        """Send ``request`` now and measure it; times are relative to ``run_start_s``.

        ``scheduled_s`` overrides the request's own schedule in the record (a closed loop
        decides it as it goes).
        """
        session = self._session
        if session is None:
            raise RuntimeError("BenchClient must be entered (async with) before send()")
        body = request.body
        if body.get("stream") is True and "stream_options" not in body:
            body = {**body, "stream_options": {"include_usage": True}}
        payload = orjson.dumps(body)
        state = _StreamState()
        status = 0
        error: str | None = None
        streamed = False
        usage: dict[str, Any] | None = None
        clock = time.monotonic
        sent_s = clock() - run_start_s
        try:
            async with asyncio.timeout(self.config.timeout_s):
                async with session.post(self._urls[request.endpoint], data=payload) as response:
                    status = response.status
                    if status >= 400:
                        await response.read()
                        error = ERROR_HTTP_5XX if status >= 500 else ERROR_HTTP_4XX
                    elif response.content_type == "text/event-stream":
                        streamed = True
                        async for data in response.content.iter_any():
                            state.feed(data, clock() - run_start_s)
                        state.finish(clock() - run_start_s)
                        error = state.error
                    else:
                        usage = _reply_usage(await response.read())
        except TimeoutError:
            error = TIMEOUT_ERROR
        except aiohttp.ClientConnectorError:
            error = ERROR_CONNECT
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, OSError):
            error = ERROR_DISCONNECTED
        except (aiohttp.ClientError, ValueError):
            error = ERROR_PROTOCOL
        end_s = clock() - run_start_s
        if usage is not None:
            state.take_usage(usage)
        counted = streamed and state.output_tokens is None
        return RequestRecord(
            request_id=request_id,
            scheduled_s=request.scheduled_s if scheduled_s is None else scheduled_s,
            sent_s=sent_s,
            end_s=end_s,
            first_token_s=state.first_token_s,
            chunk_times_s=tuple(state.chunk_times_s),
            prompt_tokens=state.prompt_tokens or 0,
            output_tokens=state.content_chunks if counted else (state.output_tokens or 0),
            output_tokens_counted=counted,
            status=status,
            error=error,
        )


def _reply_usage(body: bytes) -> dict[str, Any] | None:
    """The ``usage`` of a non-streamed reply; raises ``ValueError`` if it is not JSON."""
    reply = orjson.loads(body)
    if not isinstance(reply, dict):
        raise ValueError("the reply is not a JSON object")  # noqa: TRY004  (mapped to protocol)
    usage = reply.get("usage")
    return usage if isinstance(usage, dict) else None
