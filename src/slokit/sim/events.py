"""What goes into a replica (a :class:`Request`) and what comes out (:class:`Event`)."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

#: Rejection reason: the request can never fit this replica's KV cache or token budget.
TOO_LONG = "too_long"


class Request(NamedTuple):
    """What a replica needs to know about a request (a tuple: a million are made per run).

    ``prefix_group`` names a shared prompt prefix of ``prefix_tokens`` tokens (``None``: none).
    """

    request_id: int
    prompt_tokens: int
    output_tokens: int
    prefix_group: int | None = None
    prefix_tokens: int = 0


class EventKind(IntEnum):
    """What happened to a request."""

    #: Its prefill was scheduled (admitted into the batch); ``time_s`` is that iteration's
    #: start. Reported again, with the tokens emitted so far, when an evicted request is
    #: re-admitted.
    SCHEDULED = 0
    #: Its first output token was emitted.
    FIRST_TOKEN = 1
    #: A later output token was emitted (only with ``emit_tokens=True``).
    TOKEN = 2
    #: Its last token was emitted; the request left the replica.
    FINISHED = 3
    #: It can never be served here (returned by ``Replica.submit``).
    REJECTED = 4


class Event(NamedTuple):
    """One event: ``tokens`` is how many output tokens the request has emitted by then."""

    kind: EventKind
    request_id: int
    time_s: float
    tokens: int
