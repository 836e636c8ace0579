"""The per-request record every producer writes: bench, simulator and gateway alike.

Times are seconds on the run's clock, measured from the start of the run. The derived metrics
follow vLLM's benchmark definitions:

- ``ttft_s`` = first token time - send time;
- ``e2e_s`` = end time - send time;
- ``tpot_s`` = (e2e - ttft) / (output_tokens - 1), undefined for fewer than two output tokens;
- inter-token latencies (ITL) = the gaps between consecutive content chunks of one request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from slokit.errors import DataError

#: Error class of a request cut off by the run's timeout.
TIMEOUT_ERROR = "timeout"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRecord:
    """What happened to one request.

    ``scheduled_s`` is when the workload wanted the request sent, ``sent_s`` when it was sent:
    their difference is the generator's schedule lag. ``chunk_times_s`` holds the arrival time of
    every content-bearing chunk of a streamed reply (empty for non-streamed replies and for
    producers that do not model chunks). ``output_tokens_counted`` is true when the server did not
    report usage and ``output_tokens`` is the number of content chunks instead. ``error`` is the
    error class (``None`` on success), ``status`` the HTTP status (0 when no response arrived).
    ``wait_s`` is the time spent queued before service, where the producer knows it.
    ``model`` is the model that served it, ``cost_usd`` its price by the gateway's price table;
    ``annotations`` what the gateway's stages decided (``route``, ``route_score``, ``cache``,
    ``similarity``, ``parse``, ...).
    """

    request_id: int
    scheduled_s: float
    sent_s: float
    end_s: float
    first_token_s: float | None = None
    chunk_times_s: tuple[float, ...] = field(default=())
    prompt_tokens: int = 0
    output_tokens: int = 0
    output_tokens_counted: bool = False
    status: int = 200
    error: str | None = None
    wait_s: float | None = None
    replica: str | None = None
    model: str | None = None
    cost_usd: float | None = None
    annotations: Mapping[str, str | float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the request completed without error."""
        return self.error is None

    @property
    def schedule_lag_s(self) -> float:
        """How late the request was sent relative to its schedule."""
        return self.sent_s - self.scheduled_s

    @property
    def ttft_s(self) -> float | None:
        """Time to first token, or ``None`` when no token arrived."""
        return None if self.first_token_s is None else self.first_token_s - self.sent_s

    @property
    def e2e_s(self) -> float:
        """End-to-end latency, from send to the last byte (or the failure)."""
        return self.end_s - self.sent_s

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first; ``None`` below two output tokens."""
        ttft_s = self.ttft_s
        if ttft_s is None or self.output_tokens < 2:
            return None
        return (self.e2e_s - ttft_s) / (self.output_tokens - 1)

    @property
    def itl_s(self) -> tuple[float, ...]:
        """Gaps between consecutive content chunks."""
        times = self.chunk_times_s
        return tuple(later - earlier for earlier, later in pairwise(times))

    def metric_values(self) -> dict[str, float | None]:
        """This request's value of each SLO metric (``itl`` is its largest gap)."""
        gaps = self.itl_s
        return {
            "ttft": self.ttft_s,
            "tpot": self.tpot_s,
            "itl": max(gaps) if gaps else None,
            "e2e": self.e2e_s,
            "wait": self.wait_s,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; chunk times are written relative to ``sent_s`` to stay short."""
        data: dict[str, Any] = {
            "id": self.request_id,
            "scheduled_s": round(self.scheduled_s, 6),
            "sent_s": round(self.sent_s, 6),
            "end_s": round(self.end_s, 6),
            "first_token_s": None if self.first_token_s is None else round(self.first_token_s, 6),
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "status": self.status,
            "error": self.error,
        }
        if self.chunk_times_s:
            data["chunk_offsets_s"] = [round(t - self.sent_s, 6) for t in self.chunk_times_s]
        if self.output_tokens_counted:
            data["output_tokens_counted"] = True
        if self.wait_s is not None:
            data["wait_s"] = round(self.wait_s, 6)
        if self.replica is not None:
            data["replica"] = self.replica
        if self.model is not None:
            data["model"] = self.model
        if self.cost_usd is not None:
            data["cost_usd"] = self.cost_usd
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        """Inverse of :meth:`to_json`; raises :class:`DataError` on a malformed record."""
        try:
            sent_s = float(data["sent_s"])
            first = data.get("first_token_s")
            record = cls(
                request_id=int(data["id"]),
                scheduled_s=float(data.get("scheduled_s", sent_s)),
                sent_s=sent_s,
                end_s=float(data["end_s"]),
                first_token_s=None if first is None else float(first),
                chunk_times_s=tuple(sent_s + float(t) for t in data.get("chunk_offsets_s", ())),
                prompt_tokens=int(data.get("prompt_tokens", 0)),
                output_tokens=int(data.get("output_tokens", 0)),
                output_tokens_counted=bool(data.get("output_tokens_counted", False)),
                status=int(data.get("status", 200)),
                error=None if data.get("error") is None else str(data["error"]),
                wait_s=None if data.get("wait_s") is None else float(data["wait_s"]),
                replica=None if data.get("replica") is None else str(data["replica"]),
                model=None if data.get("model") is None else str(data["model"]),
                cost_usd=None if data.get("cost_usd") is None else float(data["cost_usd"]),
                annotations=_annotations(data.get("annotations")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"malformed request record: {error!r} in {data!r:.200}") from error
        if not all(math.isfinite(t) for t in (record.sent_s, record.end_s)):
            raise DataError(f"request record {record.request_id} has non-finite times")
        return record


def _annotations(value: object) -> dict[str, str | float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"annotations must be an object, got {type(value).__name__}")
    return {str(k): v if isinstance(v, int | float) else str(v) for k, v in value.items()}
