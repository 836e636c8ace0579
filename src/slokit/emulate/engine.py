"""Token engines: what decides, across all replies in flight, when each token is written.

The server hands every request to one :class:`TokenEngine`, which calls the reply's
:class:`TokenSink` as each token becomes ready. Two engines exist: :class:`PacedEngine` plays
a per-request :class:`~slokit.emulate.timing.TokenTiming` (replies independent of each other),
and :class:`~slokit.emulate.model.ModelEngine` runs the simulator's serving model on the real
clock (replies batched together, as a serving engine batches them).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol, runtime_checkable

from slokit.emulate.timer import DeadlineTimer, TimerEntry
from slokit.emulate.timing import TimingRequest, TokenTiming

#: Withdraws a request whose client went away; calling it after the reply ended does nothing.
Cancel = Callable[[], None]


class TokenSink(Protocol):
    """One reply in progress, as an engine drives it."""

    def token(self, due_s: float, *, last: bool) -> None:
        """One output token is ready: it was due at ``due_s`` (``time.monotonic()``), which is
        now or, when the loop woke late, a little earlier. ``last``: the reply ends with it."""
        ...


class TokenEngine(Protocol):
    """Times the tokens of every reply of one server, on its event loop."""

    def start(self, request: TimingRequest, sink: TokenSink, arrival_s: float) -> Cancel:
        """Take a request that arrived at ``arrival_s`` (``time.monotonic()``).

        The engine never calls ``sink`` before ``start`` returns, so the server may open the
        reply afterwards. Raises :class:`~slokit.emulate.openai.RequestError` for a request it
        can never serve (answered with 400 and nothing started).
        """
        ...

    def describe(self) -> dict[str, Any]:
        """The engine's state, for the server's ``/stats`` (JSON-ready)."""
        ...


@runtime_checkable
class ServingModel(Protocol):
    """A timing that needs state shared across replies; it builds its engine per server.

    The description itself stays plain and picklable (it crosses into the emulator's process);
    the engine is made on the server's loop with the server's timer.
    """

    def engine(self, timer: DeadlineTimer) -> TokenEngine: ...


def engine_for(timing: TokenTiming | ServingModel, timer: DeadlineTimer) -> TokenEngine:
    """The engine that plays ``timing`` with ``timer``."""
    if isinstance(timing, ServingModel):
        return timing.engine(timer)
    return PacedEngine(timing, timer)


class PacedEngine:
    """Plays a :class:`~slokit.emulate.timing.TokenTiming`: each reply on its own offsets."""

    __slots__ = ("_timer", "_timing")

    def __init__(self, timing: TokenTiming, timer: DeadlineTimer) -> None:
        self._timing = timing
        self._timer = timer

    def start(self, request: TimingRequest, sink: TokenSink, arrival_s: float) -> Cancel:
        paced = _Paced(self._timer, sink, iter(self._timing.token_offsets(request)), arrival_s)
        return paced.cancel

    def describe(self) -> dict[str, Any]:
        return {}


class _Paced:
    """One reply's offsets, pulled one token ahead so that the last token is known as such."""

    __slots__ = ("_entry", "_offsets", "_sink", "_start_s", "_timer")

    def __init__(
        self, timer: DeadlineTimer, sink: TokenSink, offsets: Iterator[float], start_s: float
    ) -> None:
        self._timer = timer
        self._sink = sink
        self._offsets = offsets
        # Offsets count from the request's arrival, so parsing it is part of the first token.
        self._start_s = start_s
        first_s = next(offsets, None)
        if first_s is None:
            raise ValueError("a TokenTiming must give at least one token offset")
        due_s = start_s + first_s
        self._entry: TimerEntry | None = timer.call_at(due_s, self._emit, due_s)

    def _emit(self, due_s: float) -> None:
        next_s = next(self._offsets, None)
        if next_s is None:
            self._entry = None
            self._sink.token(due_s, last=True)
            return
        self._sink.token(due_s, last=False)
        next_due_s = self._start_s + next_s
        self._entry = self._timer.call_at(next_due_s, self._emit, next_due_s)

    def cancel(self) -> None:
        if self._entry is not None:
            self._entry.cancel()
            self._entry = None
        if isinstance(self._offsets, Generator):
            self._offsets.close()
