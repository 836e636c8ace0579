"""Cache: answer chat completions from the response cache, exact first, then semantic.

Runs before routing and admission, so a hit costs no model call and no wait. Keys and what
may be stored are the :class:`~slokit.cache.ResponseCache`'s (tenant, requested model,
messages, output parameters; never errors, cut streams or sampled replies unless
``allow_sampled``). Non-streamed misses share one upstream call between identical concurrent
requests (single flight); a streamed miss goes up on its own and is stored when it ends
cleanly. A hit replays as server-sent events when the request streams.

Response headers: ``x-slokit-cache: hit|miss|bypass``, with ``x-slokit-cache-similarity``
on semantic hits. The request header ``x-slokit-cache: bypass`` skips the cache both ways;
``refresh`` skips the lookup and stores the fresh reply.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from slokit.cache import (
    CACHEABLE_FINISH_REASONS,
    CacheConfig,
    CacheRequest,
    CacheResult,
    Calibration,
    Completion,
    MemoryStore,
    MemoryStoreConfig,
    PgvectorStore,
    PgvectorStoreConfig,
    RedisStore,
    RedisStoreConfig,
    ResponseCache,
    SqliteStore,
    SqliteStoreConfig,
    Store,
)
from slokit.cache.store import Vector
from slokit.errors import ConfigError
from slokit.gateway.config import ANONYMOUS_TENANT, CacheStageConfig
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.sse import StreamCollector
from slokit.gateway.telemetry import Telemetry
from slokit.gateway.wire import ApiError

CONTROL_HEADER = b"x-slokit-cache"
_CONTROLS = frozenset({b"bypass", b"refresh"})
_SSE = "text/event-stream"


class _Uncached(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """The upstream's reply is not a cacheable body (an error status): pass it on as it is."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("uncacheable reply")
        self.reply = reply


class CacheStage:
    """The response cache as a gateway stage."""

    __slots__ = ("_allow_sampled", "_cache", "_pending", "_telemetry")

    def __init__(self, cache: ResponseCache, telemetry: Telemetry, *, allow_sampled: bool) -> None:
        self._cache = cache
        self._telemetry = telemetry
        self._allow_sampled = allow_sampled
        self._pending: set[asyncio.Task[bool]] = set()

    @classmethod
    def from_config(cls, config: CacheStageConfig, telemetry: Telemetry) -> CacheStage:
        embedder = calibration = None
        if config.calibration is not None:
            calibration = _load_calibration(config.calibration)
            from slokit.embedding import (  # noqa: PLC0415  (loads torch)
                MINILM_NAME,
                embedder_named,
                serving_threads,
            )

            embedder = embedder_named(calibration.embedder or MINILM_NAME)
            serving_threads()
        cache = ResponseCache(
            _store(config, None if embedder is None else embedder.dimensions),
            config=CacheConfig(
                ttl_s=config.ttl_s,
                cacheable_finish_reasons=CACHEABLE_FINISH_REASONS | {"length"}
                if config.store_length_limited
                else CACHEABLE_FINISH_REASONS,
            ),
            embedder=embedder,
            calibration=calibration,
        )
        return cls(cache, telemetry, allow_sampled=config.allow_sampled)

    async def handle(self, call: Call, forward: Handler) -> Reply:
        if call.endpoint != "chat":
            return await forward(call)
        control = call.headers.get(CONTROL_HEADER)
        if control is not None and control not in _CONTROLS:
            raise ApiError(
                400,
                "the x-slokit-cache header must be 'bypass' or 'refresh'",
                param="x-slokit-cache",
                code="invalid_header",
            )
        request = self._request(call)
        if control == b"bypass" or request is None or (request.sampled and not self._allow_sampled):
            self._outcome(call, "bypass")
            return await forward(call)
        vector = None
        if control != b"refresh":
            if not call.stream:
                return await self._answer(call, request, forward)
            found, vector = await self._cache.probe(request)
            if found is not None:
                return self._hit(call, found)
        self._outcome(call, "miss")
        reply = await forward(call)
        if reply.status != 200:
            return reply
        if reply.chunks is None:
            self._store_later(request, Completion(body=orjson.loads(reply.body)), vector)
        else:
            collector = StreamCollector(reply.body)
            reply.watch(
                on_chunk=collector.feed,
                on_end=lambda error, aborted: self._stream_ended(
                    request, collector, vector, clean=error is None and not aborted
                ),
            )
        return reply

    async def _answer(self, call: Call, request: CacheRequest, forward: Handler) -> Reply:
        """Non-streamed: the cached reply, or the upstream's, fetched once for identical calls."""
        own: list[Reply] = []

        async def compute() -> Completion:
            reply = await forward(call)
            if reply.status != 200 or reply.chunks is not None:
                raise _Uncached(reply)
            own.append(reply)
            return Completion(body=orjson.loads(reply.body))

        try:
            result = await self._cache.get_or_compute(request, compute)
        except _Uncached as uncached:
            self._outcome(call, "miss")
            return uncached.reply
        if result.hit:
            return self._hit(call, result)
        if own:  # this call went upstream: its bytes as they came
            self._outcome(call, "miss")
            return own[0]
        # An identical call went upstream at the same time (single flight): its reply, which
        # cost this call no model call, so it counts as a hit.
        self._outcome(call, "hit")
        call.annotations["cache_source"] = "single_flight"
        return Reply(status=200, content_type="application/json", body=orjson.dumps(result.body))

    def _hit(self, call: Call, result: CacheResult) -> Reply:
        self._outcome(call, "hit")
        call.annotations["cache_source"] = result.source
        if result.similarity is not None:
            call.annotations["similarity"] = round(result.similarity, 6)
            call.response_headers.append(
                (b"x-slokit-cache-similarity", f"{result.similarity:.6f}".encode())
            )
        if not call.stream:
            return Reply(
                status=200, content_type="application/json", body=orjson.dumps(result.body)
            )
        events = replay_events(result.body, include_usage=_wants_usage(call.payload))
        return Reply(status=200, content_type=_SSE, body=events[0], chunks=_iterate(events[1:]))

    def _outcome(self, call: Call, outcome: str) -> None:
        call.annotations["cache"] = outcome
        call.response_headers.append((b"x-slokit-cache", outcome.encode()))
        self._telemetry.cache_lookups.labels(call.model.name, outcome).inc()

    def _request(self, call: Call) -> CacheRequest | None:
        payload = call.payload
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return None
        parameters = {k: v for k, v in payload.items() if k not in ("model", "messages")}
        tenant = call.tenant.name if call.tenant is not None else ANONYMOUS_TENANT
        try:
            return CacheRequest(
                tenant=tenant,
                model=call.requested_model,
                messages=tuple(messages),
                parameters=parameters,
                allow_sampled=self._allow_sampled,
            )
        except (ConfigError, TypeError, ValueError):
            return None  # a request the cache cannot key (e.g. a non-numeric temperature)

    def _stream_ended(
        self,
        request: CacheRequest,
        collector: StreamCollector,
        vector: Vector | None,
        *,
        clean: bool,
    ) -> None:
        if not clean:
            return
        body = collector.completion()
        if body is not None:
            self._store_later(request, Completion(body=body), vector)

    def _store_later(
        self, request: CacheRequest, completion: Completion, vector: Vector | None = None
    ) -> None:
        """Store off the reply's path (a semantic entry needs an embedding first)."""
        store = self._cache.store(request, completion, vector=vector)
        task = asyncio.get_running_loop().create_task(store)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for the stores in progress (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def _store(config: CacheStageConfig, dimensions: int | None) -> Store:
    """The configured store, opened (a shared one is reached now: a wrong URL fails the start)."""
    if config.store == "sqlite" and config.path is not None:
        return SqliteStore(SqliteStoreConfig(path=config.path, max_entries=config.capacity))
    if config.store in ("redis", "pgvector"):
        variable = config.url_env or ""
        url = os.environ.get(variable)
        if not url:
            raise ConfigError(
                f"stages.cache.url_env: the environment variable {variable} is not set; "
                f"export it with the {config.store} server's URL"
            )
        if config.store == "redis":
            return RedisStore(RedisStoreConfig(url=url, max_entries=config.capacity))
        return PgvectorStore(
            PgvectorStoreConfig(url=url, dimensions=dimensions or 0, max_entries=config.capacity)
        )
    return MemoryStore(MemoryStoreConfig(max_entries=config.capacity))


def _load_calibration(path: Path) -> Calibration:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as error:
        raise ConfigError(
            f"stages.cache.calibration: cannot read '{path}': {error.strerror}; "
            "write the file from `slokit cache calibrate`"
        ) from None
    except orjson.JSONDecodeError:
        raise ConfigError(
            f"stages.cache.calibration: '{path}' is not JSON; use `slokit cache calibrate -o`"
        ) from None
    return Calibration.from_json(data, source=str(path))


def _wants_usage(payload: Mapping[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


async def _iterate(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


def replay_events(body: Mapping[str, Any], *, include_usage: bool) -> list[bytes]:
    """A cached ``chat.completion`` as the SSE events of a stream: role, content, end, done."""
    base = {
        "id": body.get("id", "chatcmpl-cache"),
        "object": "chat.completion.chunk",
        "created": body.get("created", 0),
        "model": body.get("model", ""),
    }
    events = []
    choices = body.get("choices") or []
    for choice in choices:
        message = choice.get("message") or {}
        index = choice.get("index", 0)
        delta: dict[str, Any] = {"role": message.get("role", "assistant")}
        for key in ("content", "tool_calls", "refusal"):
            if message.get(key) is not None:
                delta[key] = message[key]
        events.append(
            {**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
        )
        events.append(
            {
                **base,
                "choices": [
                    {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
                ],
            }
        )
    if include_usage and body.get("usage") is not None:
        events.append({**base, "choices": [], "usage": body["usage"]})
    return [b"data: " + orjson.dumps(event) + b"\n\n" for event in events] + [b"data: [DONE]\n\n"]
