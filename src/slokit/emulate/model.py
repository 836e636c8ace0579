"""The simulator's serving model on the real clock: replies batched as a serving engine would.

Every request goes to one of ``replicas`` :class:`~slokit.sim.replica.Replica` objects (the
same model ``slokit.sim`` runs on virtual time: continuous batching, chunked prefill, decode
step priced on batch size and context, KV capacity with preemption, prefix cache), chosen by
the simulator's default balancer. Virtual time is ``time.monotonic()`` minus the engine's
start, so the replica's iteration ends are deadlines on the real clock: one kernel timer per
replica is armed at its next iteration end, and when it fires the replica is advanced to the
present and every token it reports is written to its reply. Virtual time never waits for the
real one: a late wake-up writes its tokens late but does not shift the iterations after it, so
lateness never accumulates.

Given the same arrival times, the emulator therefore batches, and times, exactly what
``slokit.sim.simulate`` predicts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from typing import Any

import numpy as np

from slokit.emulate.engine import Cancel, TokenSink
from slokit.emulate.openai import RequestError
from slokit.emulate.timer import DeadlineTimer, TimerEntry
from slokit.emulate.timing import DEFAULT_OUTPUT_TOKENS, TimingRequest
from slokit.errors import ConfigError
from slokit.policies import LeastOutstandingBalancer
from slokit.sim import EventKind, Profile, Replica, Request
from slokit.workload import FixedTokens, TokenSampler
from slokit.workload.seeding import check_seed

# A reply ends with its last token; the FINISHED event that follows it needs nothing more.
_TOKEN_KINDS = (EventKind.FIRST_TOKEN, EventKind.TOKEN)
#: Reply lengths are drawn this many at a time (one draw costs about as much as 256).
_LENGTH_BATCH = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileTiming:
    """Token timing from a serving :class:`~slokit.sim.profile.Profile`.

    ``replicas`` replicas of the profile serve behind least-outstanding-requests balancing.
    A request's reply has ``max_tokens`` tokens; one without ``max_tokens`` draws its length
    from ``output_tokens`` with a generator seeded by ``seed``, in arrival order.
    """

    profile: Profile
    replicas: int = 1
    output_tokens: TokenSampler = field(
        default_factory=lambda: FixedTokens(tokens=DEFAULT_OUTPUT_TOKENS)
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.profile, Profile):
            raise ConfigError("profile must be a slokit.sim.Profile (see Profile.load)")
        count_ = self.replicas
        if isinstance(count_, bool) or not isinstance(count_, int) or count_ < 1:
            raise ConfigError(f"replicas must be an integer >= 1, got {count_!r}")
        if not callable(getattr(self.output_tokens, "sample", None)):
            raise ConfigError("output_tokens must be a token sampler, e.g. FixedTokens(tokens=16)")
        check_seed(self.seed)

    def engine(self, timer: DeadlineTimer) -> ModelEngine:
        """The live engine for one server, its virtual clock starting now."""
        return ModelEngine(self, timer)


class _Lengths:
    """Reply lengths for requests without ``max_tokens``, drawn in batches."""

    __slots__ = ("_pending", "_rng", "_sampler")

    def __init__(self, sampler: TokenSampler, seed: int) -> None:
        self._sampler = sampler
        self._rng = np.random.default_rng(seed)
        self._pending: list[int] = []

    def draw(self) -> int:
        if not self._pending:
            drawn = self._sampler.sample(self._rng, _LENGTH_BATCH).tolist()
            self._pending = drawn[::-1]
        return int(self._pending.pop())


class ModelEngine:
    """Drives the replicas of a :class:`ProfileTiming` on the real clock (module docstring)."""

    __slots__ = (
        "_balancer",
        "_due_s",
        "_entries",
        "_ids",
        "_lengths",
        "_now_s",
        "_origin_s",
        "_placed",
        "_replicas",
        "_sinks",
        "_timer",
        "cancelled",
        "profile",
    )

    def __init__(self, timing: ProfileTiming, timer: DeadlineTimer) -> None:
        self.profile = timing.profile
        self._timer = timer
        self._origin_s = time.monotonic()
        self._now_s = 0.0  # virtual: the latest time any replica was driven to
        self._replicas = [
            Replica(timing.profile, replica_id=f"r{index}", emit_tokens=True)
            for index in range(timing.replicas)
        ]
        self._due_s = [math.inf] * timing.replicas
        self._entries: list[TimerEntry | None] = [None] * timing.replicas
        self._balancer = LeastOutstandingBalancer()
        self._lengths = _Lengths(timing.output_tokens, timing.seed)
        self._ids = count()
        # Requests with a reply still open: (sink, output tokens) and the replica serving it.
        self._sinks: dict[int, tuple[TokenSink, int]] = {}
        self._placed: dict[int, int] = {}
        self.cancelled = 0

    def start(self, request: TimingRequest, sink: TokenSink, arrival_s: float) -> Cancel:
        output = request.max_tokens if request.max_tokens is not None else self._lengths.draw()
        # A real prompt holds at least its template's tokens; the model needs one to prefill.
        prompt = max(request.prompt_tokens, 1)
        prefix_tokens = min(request.prefix_tokens, prompt)
        request_id = next(self._ids)
        model_request = Request(
            request_id,
            prompt,
            output,
            request.prefix_group if prefix_tokens else None,
            prefix_tokens,
        )
        replicas = self._replicas
        if replicas[0].rejection(model_request) is not None:
            raise RequestError(
                f"this request needs {prompt + output} tokens of KV cache ({prompt} in the "
                f"prompt, {output} to generate); a replica of {self.profile.model!r} holds "
                f"{self.profile.kv_capacity_tokens}. Lower max_tokens or shorten the prompt.",
                param="max_tokens",
                code="context_length_exceeded",
            )
        now_s = self._clock(arrival_s)
        # The balancer must see the replicas as they are at the arrival, as the simulator does.
        for index in range(len(replicas)):
            if self._due_s[index] <= now_s:
                self._drive(index, now_s)
        position = self._balancer.choose(replicas, model_request.prefix_group, now_s)
        replicas[position].submit(model_request, now_s)
        self._sinks[request_id] = (sink, output)
        self._placed[request_id] = position
        self._arm(position)
        return partial(self._cancel, request_id)

    def describe(self) -> dict[str, Any]:
        now_s = self._clock(time.monotonic())
        for index in range(len(self._replicas)):
            self._drive(index, now_s)
        return {
            "profile": self.profile.model,
            "cancelled": self.cancelled,
            "replicas": [
                {
                    "id": replica.replica_id,
                    "outstanding": replica.outstanding_requests,
                    "waiting": replica.waiting_requests,
                    "running": replica.running_requests,
                    "kv_used_tokens": replica.kv_used_tokens,
                    "iterations": replica.iterations,
                    "preemptions": replica.preemptions,
                    "prefix_hit_tokens": replica.prefix_hit_tokens,
                }
                for replica in self._replicas
            ],
        }

    # ---------------------------------------------------------------- internals

    def _clock(self, monotonic_s: float) -> float:
        """Virtual time at ``monotonic_s``, never before a time a replica was driven to.

        A request's bytes may have arrived just before a timer callback that ran first; it
        then joins the model at that callback's time, microseconds later.
        """
        now_s = monotonic_s - self._origin_s
        if now_s < self._now_s:
            return self._now_s
        self._now_s = now_s
        return now_s

    def _on_due(self, index: int) -> None:
        self._entries[index] = None
        self._due_s[index] = math.inf
        self._drive(index, self._clock(time.monotonic()))

    def _drive(self, index: int, now_s: float) -> None:
        """Advance replica ``index`` to ``now_s``, write the tokens it made, re-arm its timer."""
        sinks = self._sinks
        origin_s = self._origin_s
        for kind, request_id, time_s, tokens in self._replicas[index].advance(now_s):
            if kind in _TOKEN_KINDS:
                held = sinks.get(request_id)
                if held is None:
                    continue
                sink, output = held
                if tokens >= output:
                    del sinks[request_id]
                    del self._placed[request_id]
                    sink.token(origin_s + time_s, last=True)
                else:
                    sink.token(origin_s + time_s, last=False)
        self._arm(index)

    def _arm(self, index: int) -> None:
        next_s = self._replicas[index].next_event_s()
        if next_s == self._due_s[index]:
            return
        entry = self._entries[index]
        if entry is not None:
            entry.cancel()
        self._due_s[index] = next_s
        self._entries[index] = (
            self._timer.call_at(self._origin_s + next_s, self._on_due, index)
            if next_s < math.inf
            else None
        )

    def _cancel(self, request_id: int) -> None:
        if self._sinks.pop(request_id, None) is None:
            return  # its reply already ended
        index = self._placed.pop(request_id)
        self.cancelled += 1
        now_s = self._clock(time.monotonic())
        # Bring the replica to the present first: the abort lands in the iteration now running.
        self._drive(index, now_s)
        self._replicas[index].cancel(request_id, now_s)
        self._arm(index)
