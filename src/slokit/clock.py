"""Time as a dependency: the ``Clock`` protocol and its real and manual implementations.

Policies read time only through a ``Clock`` so that the simulator can drive them on virtual time
and the gateway on real time (one policy, two clocks).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic time in seconds."""

    def now(self) -> float:
        """Seconds since an arbitrary, fixed origin; never decreases."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic`."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; the simulator's and the tests' clock."""

    __slots__ = ("_now_s",)

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s

    def now(self) -> float:
        return self._now_s

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot move backwards (advance by {seconds})")
        self._now_s += seconds

    def set(self, now_s: float) -> None:
        """Jump to ``now_s``, which must not be earlier than the current time."""
        if now_s < self._now_s:
            raise ValueError(f"a clock cannot move backwards ({now_s} < {self._now_s})")
        self._now_s = now_s
