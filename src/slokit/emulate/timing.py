"""Token timing: when an emulated reply's tokens are ready, and how many there are."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

#: Output length when neither the timing nor the request (``max_tokens``) sets one.
DEFAULT_OUTPUT_TOKENS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class TimingRequest:
    """What a timing may base its decisions on.

    ``prompt_tokens`` is approximate (see :mod:`slokit.emulate.openai`); ``max_tokens`` is
    ``None`` when the request set no limit. ``prefix_group`` names the request's shared prompt
    prefix (its leading system messages), ``prefix_tokens`` long; ``None`` when it has none.
    """

    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    prefix_group: int | None = None
    prefix_tokens: int = 0


class TokenTiming(Protocol):
    """Decides a reply's token times; the emulator server is generic over it."""

    def token_offsets(self, request: TimingRequest) -> Iterator[float]:
        """Seconds from the request's arrival at which each output token is ready, in order.

        The number of offsets is the number of output tokens (at least one, at most
        ``max_tokens``). The server pulls each offset only when the previous token is due, so
        a model running on the real clock (continuous batching) can decide each token's time
        when it gets there; non-streamed replies are stepped through the same way. When the
        request ends early (the client went away) the server calls ``close()`` on a
        generator, letting such a model free the slot in a ``finally`` block.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedTiming:
    """The same timing for every request: first token after ``ttft_s``, then one every ``itl_s``.

    ``output_tokens`` is the reply length, capped by the request's ``max_tokens``; ``None``
    means "as many as ``max_tokens`` allows" (``DEFAULT_OUTPUT_TOKENS`` when it is absent).
    """

    ttft_s: float
    itl_s: float
    output_tokens: int | None = None

    def __post_init__(self) -> None:
        if not self.ttft_s >= 0:
            raise ValueError(f"ttft_s must be >= 0 seconds, got {self.ttft_s}")
        if not self.itl_s >= 0:
            raise ValueError(f"itl_s must be >= 0 seconds, got {self.itl_s}")
        if self.output_tokens is not None and self.output_tokens < 1:
            raise ValueError(f"output_tokens must be >= 1 or None, got {self.output_tokens}")

    def count(self, max_tokens: int | None) -> int:
        """Output tokens of a request with this ``max_tokens``."""
        wanted = self.output_tokens
        if wanted is None:
            return DEFAULT_OUTPUT_TOKENS if max_tokens is None else max_tokens
        return wanted if max_tokens is None else min(wanted, max_tokens)

    def token_offsets(self, request: TimingRequest) -> Iterator[float]:
        # Offsets are absolute from the arrival, so a late token does not delay the next ones.
        first_s, gap_s = self.ttft_s, self.itl_s
        return (first_s + index * gap_s for index in range(self.count(request.max_tokens)))
