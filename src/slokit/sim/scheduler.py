"""A replica's scheduler: who is in the next iteration, and what finishing an iteration does.

It owns the FCFS waiting queue, the running batch (prefilling and decoding sequences), the KV
block accounting, preemption and the prefix cache; it knows nothing of time, which
:class:`~slokit.sim.replica.Replica` adds. Composition rules:

- every decoding sequence gets one token per iteration;
- the rest of the token budget (``max_batched_tokens`` minus decode tokens) goes to prefill,
  oldest first: sequences part-way through their prompt, then waiting ones, admitted in order
  while a batch slot, the KV blocks and the budget allow; the first that does not fit stops
  admission (strict FCFS);
- without chunked prefill a prompt is prefilled whole or not at all, and one longer than the
  budget only alone (only prompts grown by recompute can be: longer fresh ones are rejected);
- KV: a decoding sequence holds the blocks of its context (prompt + tokens emitted), a
  prefilling one the blocks of its whole prompt plus one token. ``recompute``: admit when that
  fits after this iteration's decode growth; if the decode growth itself does not fit, evict
  the newest admitted sequence (repeatedly) to be recomputed later from prompt + emitted
  tokens. ``queue``: admit only when the blocks of prompt + output fit beside the other
  admitted sequences' reservations, so nothing is ever evicted.
"""

from __future__ import annotations

from collections import deque

from slokit.sim.batch import DECODING, DONE, PREFILLING, WAITING, DecodeBatch, SequenceState
from slokit.sim.events import Event, EventKind, Request
from slokit.sim.prefix import PrefixCache
from slokit.sim.profile import Profile

#: One sequence's share of an iteration's prefill: (sequence, tokens computed, KV tokens before).
PrefillChunk = tuple[SequenceState, int, int]


class Scheduler:
    """Batch composition and KV accounting for one replica (see the module docstring)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.block_tokens = profile.kv_block_tokens
        self.capacity_blocks = profile.kv_capacity_blocks
        self.recompute = profile.preemption == "recompute"
        self.prefix = (
            PrefixCache(capacity_tokens=profile.kv_capacity_tokens, block_tokens=self.block_tokens)
            if profile.prefix_cache
            else None
        )
        self.waiting: deque[SequenceState] = deque()
        self.prefilling: list[SequenceState] = []
        self.running: dict[int, SequenceState] = {}  # admission order: eviction takes the newest
        self.batch = DecodeBatch(self.block_tokens)
        self.iteration = 0
        self.prefill_blocks = 0  # held by sequences still prefilling
        self.reserved_blocks = 0  # queue preemption: reserved for prompt + output
        self.outstanding = 0
        self.preemptions = 0
        self.peak_kv_blocks = 0
        self.prefix_hit_tokens = 0
        self._next_serial = 0
        self._by_request: dict[int, SequenceState] = {}  # outstanding, for cancellation
        self._cancelled: list[SequenceState] = []  # to be released at the next boundary

    @property
    def idle(self) -> bool:
        """Nothing waiting or running."""
        return not (self.batch.count or self.prefilling or self.waiting)

    def enqueue(self, request: Request) -> None:
        """Add a request at the back of the waiting queue."""
        seq = SequenceState(request)
        self.waiting.append(seq)
        self._by_request[request.request_id] = seq
        self.outstanding += 1

    def cancel(self, request_id: int) -> bool:
        """Mark an outstanding request cancelled; it is released at :meth:`release_cancelled`."""
        seq = self._by_request.pop(request_id, None)
        if seq is None:
            return False
        seq.cancelled = True
        self._cancelled.append(seq)
        self.outstanding -= 1
        return True

    def holdings(self) -> dict[int, int]:
        """KV tokens each admitted request holds, computed one by one (unrounded)."""
        held: dict[int, int] = {}
        for seq in self.running.values():
            if seq.state == DECODING:
                held[seq.request_id] = seq.prompt + self.iteration - seq.offset
            else:
                held[seq.request_id] = seq.target + 1
        return held

    def decoding(self) -> list[SequenceState]:
        """The decoding sequences still wanted, in admission order."""
        return [s for s in self.running.values() if s.state == DECODING and not s.cancelled]

    def _blocks(self, tokens: int) -> int:
        return -(-tokens // self.block_tokens)

    # ---------------------------------------------------------------- composing

    def compose(self) -> tuple[list[PrefillChunk], bool]:
        """The next iteration's prefill chunks, and whether the batch is closed to newcomers.

        Closed: a waiting request was left out, or no batch slot or token budget is left, so
        a request arriving during the run cannot join it before the run ends.

        Evicts first if the decode growth of the iteration would overflow the KV cache.
        """
        batch = self.batch
        growth_blocks = batch.growth_next(self.iteration)
        if self.recompute:
            while (
                batch.count
                and batch.blocks + self.prefill_blocks + growth_blocks > self.capacity_blocks
            ):
                self._evict_newest()
                growth_blocks = batch.growth_next(self.iteration)
        budget = self.profile.max_batched_tokens - batch.count
        prefill: list[PrefillChunk] = []
        for seq in self.prefilling:
            if budget <= 0:
                break
            take = min(seq.target - seq.prefilled, budget)
            prefill.append((seq, take, seq.prefilled))
            budget -= take
        return prefill, self._admit_into(prefill, budget, growth_blocks)

    def stable_steps(self) -> int:
        """How many decode-only iterations can run before a finish or a KV overflow."""
        batch = self.batch
        steps = batch.next_finish() - self.iteration
        if self.recompute:
            free_blocks = self.capacity_blocks - batch.blocks - self.prefill_blocks
            # Growth over the steps is at most one block per sequence per started cycle of
            # block_tokens steps; only when that bound does not fit is the exact count needed.
            if (steps // self.block_tokens + 1) * batch.count > free_blocks:
                steps = min(steps, batch.fit_steps(self.iteration, free_blocks))
        return steps

    def _admit_into(self, prefill: list[PrefillChunk], budget: int, growth_blocks: int) -> bool:
        """Add waiting sequences to ``prefill`` in order while they fit; True if closed."""
        profile = self.profile
        slots = profile.max_batch_size - self.batch.count - len(self.prefilling)
        if self.recompute:
            free_blocks = (
                self.capacity_blocks - self.batch.blocks - self.prefill_blocks - growth_blocks
            )
        else:
            free_blocks = self.capacity_blocks - self.reserved_blocks
        alone = not self.batch.count and not prefill
        for seq in self.waiting:
            if slots <= 0 or budget <= 0:
                return True
            if self.recompute:
                need_blocks = self._blocks(seq.target + 1)
            else:
                need_blocks = self._blocks(seq.prompt + seq.output)
            if need_blocks > free_blocks:
                return True
            cached = 0
            if self.prefix is not None and seq.prefix_group is not None:
                # At least the last token is computed: it produces the next token.
                cached = min(
                    self.prefix.cached_tokens(seq.prefix_group, seq.prefix_tokens),
                    seq.target - 1,
                )
            todo = seq.target - cached
            if profile.chunked_prefill:
                take = min(todo, budget)
            elif todo <= budget or alone:
                take = todo
            else:
                return True
            prefill.append((seq, take, cached))
            budget -= take
            slots -= 1
            free_blocks -= need_blocks
            alone = False
        return slots <= 0 or budget <= 0

    def _evict_newest(self) -> None:
        """Evict the newest admitted sequence, to be recomputed later (recompute preemption)."""
        seq = self.running.pop(next(reversed(self.running)))
        if seq.state == DECODING:
            self.batch.leave(seq, self.iteration)
        else:
            self.prefill_blocks -= self._blocks(seq.target + 1)
            self.prefilling.remove(seq)
        seq.state = WAITING
        seq.target = seq.prompt + seq.emitted
        seq.prefilled = 0
        self.waiting.appendleft(seq)
        self.preemptions += 1

    # ---------------------------------------------------------------- completing

    def complete(
        self,
        prefill: list[PrefillChunk],
        steps: int,
        end_s: float,
        events: list[Event],
        *,
        emit_tokens: bool,
    ) -> None:
        """Apply ``steps`` iterations that ended at ``end_s`` (``prefill`` only with 1 step)."""
        batch = self.batch
        batch.grow(self.iteration, steps)
        self.iteration += steps
        # Measured before this iteration's finishes release their blocks: the true peak.
        held_blocks = batch.blocks + self.prefill_blocks
        for seq in batch.pop_finished(self.iteration):
            self._finish(seq, end_s, events)
        for seq, take, start in prefill:
            if seq.state == WAITING:
                self._admit(seq, start)
                held_blocks += self._blocks(seq.target + 1)
            seq.prefilled += take
            if seq.prefilled >= seq.target:
                self._prefill_done(seq, end_s, events, emit_tokens=emit_tokens)
        if prefill:
            self.prefilling = [seq for seq in self.prefilling if seq.state == PREFILLING]
        self.peak_kv_blocks = max(held_blocks, self.peak_kv_blocks)
        if self._cancelled:
            self.release_cancelled()

    def _admit(self, seq: SequenceState, cached: int) -> None:
        """Move the head of the waiting queue into the batch, holding its KV blocks."""
        self.waiting.popleft()
        seq.state = PREFILLING
        seq.serial = self._next_serial
        self._next_serial += 1
        self.running[seq.serial] = seq
        self.prefilling.append(seq)
        seq.prefilled = cached
        if not self.recompute:
            seq.reserved_blocks = self._blocks(seq.prompt + seq.output)
            self.reserved_blocks += seq.reserved_blocks
        self.prefill_blocks += self._blocks(seq.target + 1)
        if cached:
            self.prefix_hit_tokens += cached
            if self.prefix is not None and seq.prefix_group is not None:
                self.prefix.touch(seq.prefix_group)

    def _prefill_done(
        self, seq: SequenceState, end_s: float, events: list[Event], *, emit_tokens: bool
    ) -> None:
        """The prompt is in the KV cache: emit the next token and start decoding."""
        self.prefill_blocks -= self._blocks(seq.target + 1)
        seq.emitted += 1
        if seq.cancelled:
            pass
        elif seq.emitted == 1:
            events.append(Event(EventKind.FIRST_TOKEN, seq.request_id, end_s, 1))
        elif emit_tokens:
            events.append(Event(EventKind.TOKEN, seq.request_id, end_s, seq.emitted))
        if self.prefix is not None and seq.prefix_group is not None:
            self.prefix.insert(seq.prefix_group, min(seq.prefix_tokens, seq.prompt))
        if seq.emitted >= seq.output:
            self._finish(seq, end_s, events)
        else:
            self.batch.join(seq, self.iteration)

    def _finish(self, seq: SequenceState, end_s: float, events: list[Event]) -> None:
        self.running.pop(seq.serial, None)
        seq.state = DONE
        self.reserved_blocks -= seq.reserved_blocks
        seq.reserved_blocks = 0
        if not seq.cancelled:
            del self._by_request[seq.request_id]
            self.outstanding -= 1
            events.append(Event(EventKind.FINISHED, seq.request_id, end_s, seq.output))

    def release_cancelled(self) -> None:
        """Release the cancelled sequences still held (call only at an iteration boundary)."""
        cancelled = self._cancelled
        self._cancelled = []
        waiting = False
        for seq in cancelled:
            if seq.state == DECODING:
                self.batch.leave(seq, self.iteration)
            elif seq.state == PREFILLING:
                self.prefill_blocks -= self._blocks(seq.target + 1)
                self.prefilling.remove(seq)
            elif seq.state == WAITING:
                waiting = True
            self.running.pop(seq.serial, None)
            self.reserved_blocks -= seq.reserved_blocks
            seq.reserved_blocks = 0
            seq.state = DONE
        if waiting:
            self.waiting = deque(seq for seq in self.waiting if not seq.cancelled)
