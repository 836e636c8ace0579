"""One replica's serving model: iteration-level continuous batching as a clock-free state machine.

Who runs in each iteration is decided by the :class:`~slokit.sim.scheduler.Scheduler`; this
module adds time. An iteration costs the decode step of its decoding sequences plus the
prefill of its prefill tokens (both formulas in :mod:`slokit.sim.profile`); an iteration with
no decoding sequence costs its prefill alone, and a decode step is priced on the batch's
context at the step's start. A sequence's first token is emitted at the end of the iteration
that completes its prefill, then one token per iteration.

Two clocks, one model: the caller owns time. It calls :meth:`Replica.submit` when a request
arrives, :meth:`Replica.advance` to collect the events up to a time, and
:meth:`Replica.next_event_s` to learn when to call again. The simulator drives it on virtual
time; an emulated server drives it on the real clock with ``emit_tokens=True`` to stream each
token at its time. Between changes of the batch (an arrival that can join, a finish, a prefill
completing, an eviction, a cancellation) the replica plans the whole stable run at once in
closed form (see :mod:`slokit.sim.stable`), so simulation cost grows with requests, not with
tokens. A change that happens mid-run takes effect at the end of the iteration in progress:
iterations are never interrupted.
"""

from __future__ import annotations

import math

from slokit.errors import ConfigError
from slokit.sim.batch import WAITING
from slokit.sim.events import TOO_LONG, Event, EventKind, Request
from slokit.sim.profile import Profile
from slokit.sim.scheduler import PrefillChunk, Scheduler
from slokit.sim.stable import first_ending_at_or_after, iteration_end_s, iterations_done_by


class Replica:
    """The serving model of one replica, driven by the caller's clock.

    ``emit_tokens=False`` (simulation) reports SCHEDULED, FIRST_TOKEN and FINISHED events only
    and applies a stable run in one step; ``emit_tokens=True`` (emulation) also reports every
    later token at the time its iteration ends, and :meth:`next_event_s` is then the next
    iteration's end. The times are the same in both modes.
    """

    def __init__(
        self, profile: Profile, *, replica_id: str = "r0", emit_tokens: bool = False
    ) -> None:
        self.profile = profile
        self.replica_id = replica_id
        self._emit_tokens = emit_tokens
        self._scheduler = Scheduler(profile)
        self._boundary_s = 0.0  # when the last completed iteration ended (or idleness ended)
        self._clock_s = 0.0
        # The planned stable run: iterations done+1..count, iteration j ending at end(j).
        self._planned = False
        self._run_start_s = 0.0
        self._run_first_s = 0.0
        self._run_half_slope_s = 0.0
        self._run_count = 0
        self._run_done = 0
        self._run_end_s = math.inf
        self._run_prefill: list[PrefillChunk] = []
        self._run_blocked = False  # closed to newcomers: arrivals need not cut the run
        self.busy_s = 0.0

    # ---------------------------------------------------------------- observation

    @property
    def outstanding_requests(self) -> int:
        """Requests submitted and not yet finished (or cancelled)."""
        return self._scheduler.outstanding

    @property
    def waiting_requests(self) -> int:
        """Requests queued, not yet admitted (evicted ones included)."""
        return len(self._scheduler.waiting)

    @property
    def running_requests(self) -> int:
        """Requests admitted: prefilling or decoding."""
        return len(self._scheduler.running)

    @property
    def iterations(self) -> int:
        """Iterations completed."""
        return self._scheduler.iteration

    @property
    def preemptions(self) -> int:
        """Evictions so far (recompute preemption)."""
        return self._scheduler.preemptions

    @property
    def prefix_hit_tokens(self) -> int:
        """Prompt tokens whose prefill the prefix cache saved."""
        return self._scheduler.prefix_hit_tokens

    @property
    def kv_used_tokens(self) -> int:
        """KV held by admitted sequences, in tokens rounded up to whole blocks."""
        scheduler = self._scheduler
        return (scheduler.batch.blocks + scheduler.prefill_blocks) * scheduler.block_tokens

    @property
    def peak_kv_tokens(self) -> int:
        """The most KV ever held, in tokens rounded up to whole blocks."""
        return self._scheduler.peak_kv_blocks * self._scheduler.block_tokens

    def holdings(self) -> dict[int, int]:
        """KV tokens each admitted request holds at the last boundary, computed one by one.

        A decoding sequence holds its context (prompt + tokens emitted), a prefilling one the
        prompt it is building plus one token. O(running): for inspection and checks.
        """
        return self._scheduler.holdings()

    def next_event_s(self) -> float:
        """When the next event is due (``inf`` when idle): call :meth:`advance` then."""
        if not self._planned:
            return math.inf
        if self._emit_tokens and self._run_done + 1 < self._run_count:
            return self._end_of(self._run_done + 1)
        return self._run_end_s

    def rejection(self, request: Request) -> str | None:
        """Why ``request`` can never be served here, or ``None`` when it can."""
        profile = self.profile
        total_blocks = -(
            -(request.prompt_tokens + request.output_tokens) // profile.kv_block_tokens
        )
        if total_blocks > profile.kv_capacity_blocks:
            return TOO_LONG
        if not profile.chunked_prefill and request.prompt_tokens > profile.max_batched_tokens:
            return TOO_LONG
        return None

    # ---------------------------------------------------------------- driving

    def submit(self, request: Request, now_s: float) -> Event | None:
        """Queue ``request`` arriving at ``now_s``; returns a REJECTED event if it never fits.

        It joins the first iteration that starts at or after ``now_s``. Call :meth:`advance`
        up to ``now_s`` first: times must not go backwards.
        """
        if request.prompt_tokens < 1 or request.output_tokens < 1:
            raise ConfigError(
                f"request {request.request_id}: prompt and output must each be >= 1 token, got "
                f"{request.prompt_tokens} and {request.output_tokens}"
            )
        self._check_time(now_s)
        if self._planned and self._run_end_s < now_s:
            raise ValueError(f"advance the replica to {now_s} before submitting at that time")
        if self.rejection(request) is not None:
            return Event(EventKind.REJECTED, request.request_id, now_s, 0)
        self._scheduler.enqueue(request)
        if not self._planned:
            self._boundary_s = now_s
            self._plan()
        elif not self._run_blocked:
            self._cut_at(now_s)
        return None

    def cancel(self, request_id: int, now_s: float) -> bool:
        """Withdraw an outstanding request (its client went away); False if it is not here.

        It leaves at the end of the iteration in progress, as a serving engine handles an
        abort at its next scheduling step; no event is reported for it after this call.
        """
        self._check_time(now_s)
        if not self._scheduler.cancel(request_id):
            return False
        if self._planned:
            self._cut_at(now_s)
        return True

    def advance(self, until_s: float) -> list[Event]:
        """Run every iteration that ends at or before ``until_s``; return their events in order."""
        self._check_time(until_s)
        events: list[Event] = []
        while self._planned:
            if self._run_end_s <= until_s:
                self._complete_run(events)
            else:
                if self._emit_tokens and self._run_count > 1:
                    done = iterations_done_by(
                        self._run_start_s,
                        self._run_first_s,
                        self._run_half_slope_s,
                        self._run_count,
                        until_s,
                    )
                    self._emit_decode_tokens(done, events)
                break
        return events

    def _check_time(self, now_s: float) -> None:
        if now_s < self._clock_s:
            raise ValueError(f"time went backwards: {now_s} < {self._clock_s}")
        self._clock_s = now_s

    def _end_of(self, iteration: int) -> float:
        return iteration_end_s(
            self._run_start_s, self._run_first_s, self._run_half_slope_s, iteration
        )

    def _cut_at(self, now_s: float) -> None:
        """The batch may change at ``now_s``: end the run with the iteration then in progress."""
        if self._run_start_s == now_s and self._run_done == 0:
            # The planned run starts now: plan it again with the change in view.
            self._scheduler.release_cancelled()
            self._plan()
            return
        count = first_ending_at_or_after(
            self._run_start_s, self._run_first_s, self._run_half_slope_s, self._run_count, now_s
        )
        if count < self._run_count:
            self._run_count = count
            self._run_end_s = self._end_of(count)

    # ---------------------------------------------------------------- runs

    def _plan(self) -> None:
        """Plan the next stable run from the current boundary, or go idle.

        A run with prefill is one iteration. A decode-only run lasts until the next finish (or
        KV overflow); its step ``t`` takes ``A + 2 H t`` with ``A`` the first step's time and
        ``H = decode_per_context_token_s * n / 2``, as the context grows by ``n`` per step.
        """
        scheduler = self._scheduler
        if scheduler.idle:
            self._planned = False
            self._run_end_s = math.inf
            return
        prefill, self._run_blocked = scheduler.compose()
        profile = self.profile
        batch = scheduler.batch
        decode_s = profile.decode_step_time_s(
            batch.count, batch.context_tokens(scheduler.iteration)
        )
        self._planned = True
        self._run_start_s = self._boundary_s
        self._run_done = 0
        self._run_prefill = prefill
        if prefill:
            tokens = 0
            square = 0
            for _, take, start in prefill:
                tokens += take
                # Chunks of one prompt add up to the unsplit prompt's quadratic cost.
                square += (start + take) * (start + take) - start * start
            self._run_first_s = (
                decode_s
                + profile.prefill_base_s
                + profile.prefill_per_token_s * tokens
                + profile.prefill_per_token2_s * square
            )
            self._run_half_slope_s = 0.0
            self._run_count = 1
        else:
            self._run_first_s = decode_s
            self._run_half_slope_s = 0.5 * profile.decode_per_context_token_s * batch.count
            self._run_count = scheduler.stable_steps()
        self._run_end_s = self._end_of(self._run_count)

    def _emit_decode_tokens(self, done: int, events: list[Event]) -> None:
        """Report the decode tokens of the run's iterations ``run_done+1..done``."""
        if done <= self._run_done:
            return
        decoding = self._scheduler.decoding()
        first_iteration = self._scheduler.iteration
        for iteration in range(self._run_done + 1, done + 1):
            time_s = self._end_of(iteration)
            absolute = first_iteration + iteration
            events.extend(
                Event(EventKind.TOKEN, seq.request_id, time_s, absolute - seq.offset)
                for seq in decoding
            )
        self._run_done = done

    def _complete_run(self, events: list[Event]) -> None:
        """Apply the planned run, which has ended, and plan the next one."""
        end_s = self._run_end_s
        self._report_admissions(events)
        if self._emit_tokens:
            self._emit_decode_tokens(self._run_count, events)
        self._scheduler.complete(
            self._run_prefill, self._run_count, end_s, events, emit_tokens=self._emit_tokens
        )
        self.busy_s += end_s - self._run_start_s
        self._boundary_s = end_s
        self._plan()

    def _report_admissions(self, events: list[Event]) -> None:
        """SCHEDULED events for the run's admissions; first, to keep events in time order."""
        for seq, _, _ in self._run_prefill:
            if seq.state == WAITING and not seq.cancelled:
                events.append(
                    Event(EventKind.SCHEDULED, seq.request_id, self._run_start_s, seq.emitted)
                )
