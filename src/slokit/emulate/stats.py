"""What the emulator has seen: counters for ``/stats`` and recent replies' token times for
``/timings``, so that tests and benchmarks can check the server's own account of its timing."""

from __future__ import annotations

from collections import deque
from typing import Any

#: How a logged reply ended.
COMPLETED = "completed"
CANCELLED = "cancelled"


class EmulatorStats:
    """Completion requests, how many at once, rejections, cancellations and tokens written."""

    __slots__ = ("cancelled", "in_flight", "max_in_flight", "rejected", "requests", "tokens")

    def __init__(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.rejected = 0
        self.cancelled = 0
        self.tokens = 0

    def to_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "rejected": self.rejected,
            "cancelled": self.cancelled,
            "tokens": self.tokens,
        }


_Entry = tuple[str, str | None, float, list[float], list[float], str]


class ReplyLog:
    """The token times of the last ``size`` replies that ended, oldest first.

    Per reply: ``arrival_s`` (its last bytes arrived), ``due_s`` (when the timing made each
    token ready) and ``token_s`` (when each was written: later by the loop's wake-up lateness).
    Times are ``time.monotonic()`` readings (on Linux, ``CLOCK_MONOTONIC``: the same clock in
    every process of the machine, so a client can line them up with its own).
    """

    __slots__ = ("_entries",)

    def __init__(self, size: int) -> None:
        self._entries: deque[_Entry] = deque(maxlen=size)

    def add(
        self,
        *,
        reply_id: str,
        user: str | None,
        arrival_s: float,
        due_s: list[float],
        token_s: list[float],
        outcome: str,
    ) -> None:
        self._entries.append((reply_id, user, arrival_s, due_s, token_s, outcome))

    def to_json(self) -> dict[str, Any]:
        return {
            "replies": [
                {
                    "id": reply_id,
                    "user": user,
                    "arrival_s": arrival_s,
                    "due_s": due_s,
                    "token_s": token_s,
                    "outcome": outcome,
                }
                for reply_id, user, arrival_s, due_s, token_s, outcome in self._entries
            ]
        }
