"""A request's state inside a replica, and the decoding batch kept in aggregate.

The aggregate is what keeps the simulator off the per-token path: instead of each sequence's
context, it keeps their sum and a count per block residue (see :mod:`slokit.sim.stable`), so
a stable run of any length is priced, and its KV growth counted, in constant time.
"""

from __future__ import annotations

import heapq

from slokit.sim.events import Request
from slokit.sim.stable import kv_fit_steps, kv_growth_blocks

WAITING, PREFILLING, DECODING, DONE = range(4)


class SequenceState:
    """A request's mutable state inside a replica."""

    __slots__ = (
        "cancelled",
        "emitted",
        "offset",
        "output",
        "prefilled",
        "prefix_group",
        "prefix_tokens",
        "prompt",
        "request_id",
        "reserved_blocks",
        "serial",
        "state",
        "target",
    )

    def __init__(self, request: Request) -> None:
        self.request_id = request.request_id
        self.prompt = request.prompt_tokens
        self.output = request.output_tokens
        self.prefix_group = request.prefix_group
        self.prefix_tokens = request.prefix_tokens
        self.emitted = 0  # output tokens emitted so far
        self.target = self.prompt  # KV tokens the next prefill builds: prompt + emitted
        self.prefilled = 0  # KV tokens built toward target, cached prefix included
        self.reserved_blocks = 0  # queue preemption: blocks for prompt + output, held throughout
        self.offset = 0  # while decoding: emitted == replica iteration - offset
        self.serial = -1  # admission order; changes when re-admitted after eviction
        self.state = WAITING
        self.cancelled = False


class DecodeBatch:
    """The decoding sequences of one replica, in aggregate.

    A sequence that joined with ``emitted`` tokens at iteration ``i0`` has ``offset = i0 -
    emitted``; at iteration ``i`` its context is ``prompt + i - offset = base + i``. The batch
    keeps ``count``, ``base_sum`` (so the context total at ``i`` is ``base_sum + count * i``),
    the KV ``blocks`` held at the current iteration, the per-residue ``crossings`` and a heap
    of finish iterations (``offset + output``).
    """

    __slots__ = ("_finish_heap", "base_sum", "block_tokens", "blocks", "count", "crossings")

    def __init__(self, block_tokens: int) -> None:
        self.block_tokens = block_tokens
        self.count = 0
        self.base_sum = 0
        self.blocks = 0
        self.crossings = [0] * block_tokens
        self._finish_heap: list[tuple[int, int, SequenceState]] = []

    def context_tokens(self, iteration: int) -> int:
        """Total context of the batch at the start of ``iteration``."""
        return self.base_sum + self.count * iteration

    def join(self, seq: SequenceState, iteration: int) -> None:
        """Add ``seq`` (its ``emitted`` up to date) at ``iteration``."""
        seq.state = DECODING
        seq.offset = iteration - seq.emitted
        base = seq.prompt - seq.offset
        self.count += 1
        self.base_sum += base
        self.crossings[-base % self.block_tokens] += 1
        self.blocks += -(-(seq.prompt + seq.emitted) // self.block_tokens)
        heapq.heappush(self._finish_heap, (seq.offset + seq.output, seq.serial, seq))

    def leave(self, seq: SequenceState, iteration: int) -> None:
        """Remove ``seq`` at ``iteration``, bringing its ``emitted`` up to date."""
        seq.emitted = iteration - seq.offset
        base = seq.prompt - seq.offset
        self.count -= 1
        self.base_sum -= base
        self.crossings[-base % self.block_tokens] -= 1
        self.blocks -= -(-(seq.prompt + seq.emitted) // self.block_tokens)
        # Its heap entry stays behind and is skipped: the state or serial no longer match.

    def next_finish(self) -> int:
        """The iteration at which the next sequence finishes (the batch must not be empty)."""
        heap = self._finish_heap
        while heap[0][2].serial != heap[0][1] or heap[0][2].state != DECODING:
            heapq.heappop(heap)
        return heap[0][0]

    def pop_finished(self, iteration: int) -> list[SequenceState]:
        """Remove and return the sequences whose last token is emitted by ``iteration``."""
        finished: list[SequenceState] = []
        heap = self._finish_heap
        while heap and heap[0][0] <= iteration:
            _, serial, seq = heapq.heappop(heap)
            if seq.serial == serial and seq.state == DECODING:
                self.leave(seq, iteration)
                finished.append(seq)
        return finished

    def growth_next(self, iteration: int) -> int:
        """Blocks the batch adds in the step that starts at ``iteration``."""
        return self.crossings[iteration % self.block_tokens] if self.count else 0

    def grow(self, iteration: int, steps: int) -> None:
        """Account the KV growth of ``steps`` steps from ``iteration``."""
        if self.count:
            self.blocks += kv_growth_blocks(self.crossings, self.count, iteration, steps)

    def fit_steps(self, iteration: int, free_blocks: int) -> int:
        """The most steps from ``iteration`` whose growth fits in ``free_blocks``."""
        return kv_fit_steps(self.crossings, self.count, iteration, free_blocks)
