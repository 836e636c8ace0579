"""The stage pipeline: one signature for every lever, composed once at start-up.

A stage receives the :class:`Call` and the rest of the pipeline (``forward``). It may answer
(return a :class:`Reply` or raise :class:`ApiError` without forwarding: a shed, a cache hit),
pass on (``return await forward(call)``), or work on a stream: watch it (``reply.watch``: a
hook per chunk and one at its end; recording, admission release) or, to change its bytes, wrap
it (replace ``reply.chunks`` with a generator over it: structured repair). The order, outermost
first::

    record -> authenticate -> rate limit -> cache -> route -> admission -> structured -> backend

The cache answers before anything queues or routes (a hit costs no model call and no wait);
routing picks the model before admission, which limits per model; structured output sits
next to the backend so that a re-ask goes straight upstream. ``build_stages`` in app.py
composes the list from config, leaving out the stages that are not configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import orjson

from slokit.gateway.config import ModelConfig, TenantConfig
from slokit.gateway.wire import ApiError, Endpoint


class Call:
    """One request as it moves through the stages; stages fill in what they learn."""

    __slots__ = (
        "admitted_s",
        "annotations",
        "body",
        "disconnected",
        "endpoint",
        "headers",
        "model",
        "payload",
        "received_s",
        "replica",
        "request_id",
        "requested_model",
        "response_headers",
        "stream",
        "tenant",
    )

    def __init__(
        self,
        *,
        request_id: int,
        endpoint: Endpoint,
        body: bytes,
        payload: dict[str, Any],
        model: ModelConfig,
        headers: dict[bytes, bytes],
        received_s: float,
    ) -> None:
        self.request_id = request_id
        self.endpoint: Endpoint = endpoint
        self.body = body
        self.payload = payload
        self.model = model
        self.stream = bool(payload.get("stream"))
        self.headers = headers
        self.received_s = received_s
        self.tenant: TenantConfig | None = None
        self.admitted_s: float | None = None
        self.replica: str | None = None
        self.disconnected = False
        #: The name the client asked for: a model, or a routed alias that a stage resolves.
        self.requested_model: str = payload["model"]
        #: What stages decided (route, cache, parse outcome...): into the request log.
        self.annotations: dict[str, str | float] = {}
        #: Headers the stages add to the response (``x-slokit-*``), sent with its status.
        self.response_headers: list[tuple[bytes, bytes]] = []

    def set_payload(self, payload: dict[str, Any]) -> None:
        """Replace the request the backend sends upstream (a stage changed the model or format)."""
        self.payload = payload
        self.body = orjson.dumps(payload)
        self.stream = bool(payload.get("stream"))


ChunkHook = Callable[[bytes], None]
#: Called once when a stream ends: with its error (None if it ended cleanly) and whether it was
#: cut short (the client left, or the serving task was cancelled).
EndHook = Callable[[ApiError | None, bool], None]


class Reply:
    """What goes back to the client: a whole body, or a first chunk and the stream after it.

    ``close`` releases the upstream early (the client went away). ``map_error`` turns an
    exception the stream raised into the client's error (None: not the stream's to answer).
    ``chunk_hooks`` and ``end_hooks`` are what :meth:`watch` registered, innermost stage first.
    """

    __slots__ = (
        "body", "chunk_hooks", "chunks", "close", "content_type", "end_hooks", "map_error",
        "status",
    )  # fmt: skip

    def __init__(
        self,
        *,
        status: int,
        content_type: str,
        body: bytes,
        chunks: AsyncIterator[bytes] | None = None,
        close: Callable[[], None] | None = None,
        map_error: Callable[[Exception], ApiError | None] | None = None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.chunks = chunks
        self.close = close or _nothing
        self.map_error = map_error or _api_error_only
        self.chunk_hooks: list[ChunkHook] = []
        self.end_hooks: list[EndHook] = []

    def watch(self, *, on_chunk: ChunkHook | None = None, on_end: EndHook | None = None) -> None:
        """Observe the stream without wrapping it: ``on_chunk`` sees each chunk before it is
        sent (the first, ``body``, is the caller's to look at), ``on_end`` runs once at the end.

        Cheaper than a generator around ``chunks``: each chunk costs a call, not one more
        generator to resume (see :mod:`slokit.gateway.stages.record`).
        """
        if on_chunk is not None:
            self.chunk_hooks.append(on_chunk)
        if on_end is not None:
            self.end_hooks.append(on_end)


def _nothing() -> None:
    return None


def _api_error_only(error: Exception) -> ApiError | None:
    return error if isinstance(error, ApiError) else None


Handler = Callable[[Call], Awaitable[Reply]]


class Stage(Protocol):
    """One lever of the gateway."""

    async def handle(self, call: Call, forward: Handler) -> Reply:
        """Answer ``call``, or ``await forward(call)`` and return (or wrap) its reply."""
        ...


def compose(stages: Sequence[Stage], terminal: Handler) -> Handler:
    """Bind ``stages`` (outermost first) around ``terminal`` into one handler."""
    handler = terminal
    for stage in reversed(stages):
        handler = _bind(stage, handler)
    return handler


def _bind(stage: Stage, forward: Handler) -> Handler:
    handle = stage.handle

    async def bound(call: Call) -> Reply:
        return await handle(call, forward)

    return bound
