"""The gateway as a plain ASGI app: routing, body limits, errors, streaming out.

No framework sits between the server and the stages: a dict finds the route, the body is read
with a size limit, the pipeline answers, and a stream goes out chunk by chunk as it arrives.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from slokit.backends.openai_http import OpenAIHttpBackend
from slokit.backends.resilience import CircuitBreaker, RetryBudget
from slokit.clock import MonotonicClock
from slokit.gateway.config import GatewayConfig, ModelConfig
from slokit.gateway.openapi import openapi_document
from slokit.gateway.pipeline import Call, Handler, Reply, Stage, compose
from slokit.gateway.stages.admission import AdmissionStage, CircuitHealth, SLOAdmission
from slokit.gateway.stages.authenticate import AuthenticateStage
from slokit.gateway.stages.backend import BackendStage, Replica
from slokit.gateway.stages.rate_limit import RateLimitStage
from slokit.gateway.stages.record import RecordStage
from slokit.gateway.stages.structured import StructuredStage
from slokit.gateway.telemetry import Telemetry
from slokit.gateway.wire import ApiError, Endpoint, parse_request
from slokit.results import RecordWriter

_logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_GENERATION: dict[str, Endpoint] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
}
_JSON = [(b"content-type", b"application/json")]
_STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_WANTED_HEADERS = frozenset({b"authorization", b"content-length", b"x-slokit-cache"})


class GatewayApp:
    """The ASGI application; build it with :func:`create_app`."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.telemetry = Telemetry()
        self._models = {model.name: model for model in config.models}
        # A routed alias starts as its fallback model; the route stage picks the real one.
        for route in config.routes:
            self._models[route.name] = self._models[route.fallback]
        self._ids = itertools.count(1)
        self._handler: Handler | None = None
        self._backends: list[OpenAIHttpBackend] = []
        self._writer: RecordWriter | None = None
        self.backend_stage: BackendStage | None = None
        self.ready = False
        self._models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "slokit"}
                    for name in self._models
                ],
            }
        )
        self._openapi_body = orjson.dumps(openapi_document())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # --- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        """Make the upstream clients and compose the pipeline (once, on the serving loop)."""
        if self._handler is not None:
            return
        config = self.config
        clock = MonotonicClock()
        replicas = {
            model.name: [
                Replica(
                    OpenAIHttpBackend(
                        name=f"{model.name}/{index}",
                        base_url=backend.url,
                        api_key=os.environ.get(backend.api_key_env)
                        if backend.api_key_env
                        else None,
                        timeouts=model.timeouts,
                    ),
                    CircuitBreaker(config.breaker, clock),
                    weight=backend.weight,
                    upstream_model=backend.upstream_model,
                )
                for index, backend in enumerate(model.backends)
            ]
            for model in config.models
        }
        self._backends = [
            replica.backend
            for model_replicas in replicas.values()
            for replica in model_replicas
            if isinstance(replica.backend, OpenAIHttpBackend)
        ]
        self.backend_stage = BackendStage(
            replicas,
            RetryBudget(config.retry_budget),
            max_attempts=config.max_attempts,
            models=config.models,
        )
        if config.telemetry.request_log is not None:
            self._writer = RecordWriter(config.telemetry.request_log)
        self._handler = compose(build_stages(self, clock), self.backend_stage)
        self.ready = True

    @property
    def request_log(self) -> RecordWriter | None:
        return self._writer

    async def shutdown(self) -> None:
        self.ready = False
        for backend in self._backends:
            backend.close()
        self._backends = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._handler = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:  # noqa: BLE001  (reported to the server, which exits)
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- requests --------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        endpoint = _GENERATION.get(path)
        if endpoint is not None:
            if method != "POST":
                await _error(send, ApiError(405, f"use POST for {path}", code="method_not_allowed"))
                return
            await self._generate(endpoint, scope, receive, send)
            return
        if method not in ("GET", "HEAD"):
            known = path in ("/v1/models", "/healthz", "/readyz", "/metrics", "/openapi.json")
            status, code = (405, "method_not_allowed") if known else (404, "not_found")
            await _error(send, ApiError(status, f"no route for {method} {path}", code=code))
            return
        if path == "/v1/models":
            await _respond(send, 200, self._models_body)
        elif path == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
        elif path == "/readyz":
            ready = self.ready
            await _respond(
                send, 200 if ready else 503, b'{"ready":%s}' % (b"true" if ready else b"false")
            )
        elif path == "/metrics":
            headers = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
            await _respond(send, 200, self.telemetry.exposition(), headers)
        elif path == "/openapi.json":
            await _respond(send, 200, self._openapi_body)
        else:
            await _error(send, ApiError(404, f"no route for {method} {path}", code="not_found"))

    async def _generate(
        self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send
    ) -> None:
        received_s = time.perf_counter()
        if self._handler is None:
            await self.startup()  # a server that runs no lifespan
        handler = self._handler
        if handler is None:  # pragma: no cover - startup sets it
            raise RuntimeError("the gateway pipeline is not built")
        headers = {k: v for k, v in scope["headers"] if k in _WANTED_HEADERS}
        try:
            body = await _read_body(receive, headers, self.config.max_body_bytes)
            payload = parse_request(endpoint, body)
            model = self._model(payload["model"])
            call = Call(
                request_id=next(self._ids),
                endpoint=endpoint,
                body=body,
                payload=payload,
                model=model,
                headers=headers,
                received_s=received_s,
            )
            reply = await handler(call)
        except ApiError as error:
            await _error(send, error)
            return
        except _ClientGoneError:
            return
        if reply.chunks is None:
            out = [(b"content-type", reply.content_type.encode()), *call.response_headers]
            await _respond(send, reply.status, reply.body, out)
            return
        await _stream(call, reply, receive, send)

    def _model(self, name: str) -> ModelConfig:
        model = self._models.get(name)
        if model is None:
            raise ApiError(
                404,
                f"the model {name!r} does not exist; GET /v1/models lists them",
                param="model",
                code="model_not_found",
            )
        return model


def build_stages(app: GatewayApp, clock: MonotonicClock) -> list[Stage]:
    """The stages from config, outermost first (see :mod:`slokit.gateway.pipeline`)."""
    config = app.config
    stages: list[Stage] = [
        RecordStage(app.telemetry, origin_s=time.perf_counter(), writer=app._writer)
    ]
    if config.tenants:
        stages.append(AuthenticateStage(config.tenants))
        if any(t.requests_per_s or t.tokens_per_min for t in config.tenants):
            stages.append(RateLimitStage(config.tenants, clock))
    if config.cache is not None:
        from slokit.gateway.stages.cache import CacheStage  # noqa: PLC0415  (loads numpy, hnswlib)

        stages.append(CacheStage.from_config(config.cache, app.telemetry))
    if config.routes:
        from slokit.gateway.stages.route import RouteStage  # noqa: PLC0415  (loads torch)

        stages.append(RouteStage.from_config(config, app.telemetry))
    if config.admission.max_concurrency is not None and app.backend_stage is not None:
        retry_s = config.breaker.cooldown_s
        admission = SLOAdmission(
            config.admission,
            config.models,
            clock,
            health=CircuitHealth(app.backend_stage),
            metrics=app.telemetry,
            down_retry_after_s=retry_s,
        )
        stages.append(AdmissionStage(admission, unavailable_retry_after_s=retry_s))
    if config.structured.enabled:
        stages.append(StructuredStage(config.structured, app.telemetry))
    if config.telemetry.tracing:
        from slokit.gateway.tracing import traced  # noqa: PLC0415  (an optional extra)

        return traced(stages)
    return stages


def _api_key(variable: str | None) -> str | None:
    return os.environ.get(variable) if variable else None


class _ClientGoneError(Exception):
    """The client closed the connection before its request was read."""


async def _read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _ClientGoneError
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGoneError
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise _too_large(limit)
        parts.append(part)
        if not message.get("more_body", False):
            return b"".join(parts)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body exceeds {limit} bytes", code="request_too_large")


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = _JSON
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, error: ApiError) -> None:
    headers = list(_JSON)
    if error.retry_after_s is not None:
        headers.append((b"retry-after", str(max(1, round(error.retry_after_s))).encode()))
    await _respond(send, error.status, error.body(), headers)


async def _stream(call: Call, reply: Reply, receive: Receive, send: Send) -> None:
    chunks = reply.chunks
    if chunks is None:  # pragma: no cover - the caller checked
        return
    chunk_hooks = reply.chunk_hooks
    error: ApiError | None = None
    aborted = True
    ended = False

    def end() -> None:
        nonlocal ended
        ended = True
        for hook in reply.end_hooks:
            hook(error, aborted)

    try:
        headers = [
            (b"content-type", reply.content_type.encode()),
            *_STREAM_HEADERS,
            *call.response_headers,
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        # A client that leaves mid-stream must free the upstream at once, not at the stream's end.
        watcher = asyncio.ensure_future(receive())

        def on_disconnect(_: object) -> None:
            if not watcher.cancelled():
                call.disconnected = True
                reply.close()

        watcher.add_done_callback(on_disconnect)
        try:
            if reply.body:
                await send({"type": "http.response.body", "body": reply.body, "more_body": True})
            # The stages watch the stream through hooks called here, not generators wrapped
            # around it: one generator (the upstream's) is resumed per chunk.
            async for chunk in chunks:
                for hook in chunk_hooks:
                    hook(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            aborted = False
        except Exception as failure:
            error = reply.map_error(failure)
            if error is None:
                raise
            aborted = False
            if not call.disconnected:
                event = b"data: " + error.body() + b"\n\n"
                await send({"type": "http.response.body", "body": event, "more_body": True})
        finally:
            watcher.remove_done_callback(on_disconnect)
            watcher.cancel()
            end()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if not ended:  # the response never started
            end()


def create_app(config: GatewayConfig) -> GatewayApp:
    """A gateway for ``config``; the server's lifespan opens and closes its upstream pool."""
    return GatewayApp(config)
