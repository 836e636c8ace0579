"""The gateway's view of an upstream: the :class:`Backend` protocol it sends calls through.

:class:`slokit.backends.openai_http.OpenAIHttpBackend` implements it; so can an in-process
backend (emulated, local) with the same ``send``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class UpstreamReply(Protocol):
    """An upstream's answer: a whole body, or the first chunk of a stream and its rest."""

    status: int
    content_type: str
    body: bytes

    @property
    def streaming(self) -> bool: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """One replica. ``send`` returns once the first bytes are in; failures before then raise
    :class:`slokit.backends.errors.UpstreamError` (the caller may try another replica)."""

    @property
    def name(self) -> str: ...

    async def send(self, path: str, body: bytes, *, stream: bool) -> UpstreamReply: ...
