"""The stage pipeline: one signature for every lever, composed once at start-up.

A stage receives the :class:`Call` and the rest of the pipeline (``forward``). It may answer
(return a :class:`Reply` or raise :class:`ApiError` without forwarding: a shed, a cache hit),
pass on (``return await forward(call)``), or wrap the reply (replace ``reply.chunks`` with a
generator over it: recording, structured repair). The order, outermost first::

    record -> authenticate -> rate limit -> admission -> [cache] -> [route] -> backend

The bracketed slots are where the cache and routing stages go; ``build_stages`` in app.py
composes the list from config.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from slokit.gateway.config import ModelConfig, TenantConfig
from slokit.gateway.wire import Endpoint


class Call:
    """One request as it moves through the stages; stages fill in what they learn."""

    __slots__ = (
        "admitted_s",
        "body",
        "disconnected",
        "endpoint",
        "headers",
        "model",
        "payload",
        "received_s",
        "replica",
        "request_id",
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


class Reply:
    """What goes back to the client: a whole body, or a first chunk and the stream after it.

    ``close`` releases the upstream early (the client went away).
    """

    __slots__ = ("body", "chunks", "close", "content_type", "status")

    def __init__(
        self,
        *,
        status: int,
        content_type: str,
        body: bytes,
        chunks: AsyncIterator[bytes] | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.chunks = chunks
        self.close = close or _nothing


def _nothing() -> None:
    return None


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
