"""Upstream failures, as the gateway needs to tell them apart.

::

    SlokitError
    └── UpstreamError          the upstream answered badly (HTTP 502 at the gateway)
        ├── UpstreamTimeoutError    no first token, a stalled stream or a blown deadline (504)
        └── UpstreamUnavailableError  nothing to send to: refused, circuit open, none left (503)

``sent`` says whether the request reached the upstream (it then counts as load, and sending it
again is a retry that the retry budget must allow); ``retryable`` whether another replica may
answer it better.
"""

from __future__ import annotations

from slokit.errors import SlokitError


class UpstreamError(SlokitError):
    """An upstream failed to give a usable reply."""

    status = 502

    def __init__(self, message: str, *, replica: str, sent: bool, retryable: bool = True) -> None:
        super().__init__(message)
        self.replica = replica
        self.sent = sent
        self.retryable = retryable


class UpstreamTimeoutError(UpstreamError):
    """The upstream missed one of its deadlines."""

    status = 504


class UpstreamUnavailableError(UpstreamError):
    """No upstream could be reached."""

    status = 503
