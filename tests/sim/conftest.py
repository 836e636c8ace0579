"""A naive reference replica, one Python step per iteration, for checking the closed forms.

It implements the rules of slokit.sim.scheduler and slokit.sim.replica the plain way: every
iteration it recomputes contexts, KV blocks and prices from each sequence, with no aggregates,
no stable runs and no run cutting. The fast replica must agree with it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from slokit.sim import PrefixCache, Profile, Request


@dataclass
class Outcome:
    """What happened to one request in the reference replica."""

    scheduled_s: float | None = None
    first_token_s: float | None = None
    end_s: float | None = None
    token_times_s: list[float] = field(default_factory=list)
    rejected: bool = False


@dataclass
class _Seq:
    request: Request
    outcome: Outcome
    emitted: int = 0
    target: int = 0
    prefilled: int = 0
    phase: str = "wait"


def _blocks(tokens: int, block: int) -> int:
    return -(-tokens // block)


def naive_serve(  # noqa: PLR0912  (one plain loop on purpose: the reference must be obvious)
    profile: Profile, arrivals_s: Sequence[float], requests: Sequence[Request]
) -> dict[int, Outcome]:
    """Serve ``requests`` (sorted by arrival) one iteration at a time."""
    block = profile.kv_block_tokens
    capacity = profile.kv_capacity_tokens // block
    recompute = profile.preemption == "recompute"
    cache = (
        PrefixCache(capacity_tokens=profile.kv_capacity_tokens, block_tokens=block)
        if profile.prefix_cache
        else None
    )
    pending = deque(zip(arrivals_s, requests, strict=True))
    waiting: deque[_Seq] = deque()
    running: list[_Seq] = []  # admission order
    outcomes: dict[int, Outcome] = {}
    now_s = 0.0

    def used_blocks() -> int:
        total = 0
        for seq in running:
            tokens = (
                seq.request.prompt_tokens + seq.emitted if seq.phase == "dec" else seq.target + 1
            )
            total += _blocks(tokens, block)
        return total

    def growth_blocks() -> int:
        return sum(
            1
            for seq in running
            if seq.phase == "dec" and (seq.request.prompt_tokens + seq.emitted) % block == 0
        )

    while pending or waiting or running:
        while pending and pending[0][0] <= now_s:
            _, request = pending.popleft()
            outcome = outcomes[request.request_id] = Outcome()
            total = request.prompt_tokens + request.output_tokens
            if _blocks(total, block) > capacity or (
                not profile.chunked_prefill and request.prompt_tokens > profile.max_batched_tokens
            ):
                outcome.rejected = True
                continue
            waiting.append(_Seq(request, outcome, target=request.prompt_tokens))
        if not waiting and not running:
            if pending:
                now_s = max(now_s, pending[0][0])
            continue
        if recompute:
            while any(s.phase == "dec" for s in running) and (
                used_blocks() + growth_blocks() > capacity
            ):
                victim = running.pop()
                victim.phase = "wait"
                victim.target = victim.request.prompt_tokens + victim.emitted
                victim.prefilled = 0
                waiting.appendleft(victim)
        decoding = [s for s in running if s.phase == "dec"]
        budget = profile.max_batched_tokens - len(decoding)
        chunks: list[tuple[_Seq, int, int]] = []
        for seq in running:
            if seq.phase == "pre" and budget > 0:
                take = min(seq.target - seq.prefilled, budget)
                chunks.append((seq, take, seq.prefilled))
                budget -= take
        slots = profile.max_batch_size - len(running)
        if recompute:
            free = capacity - used_blocks() - growth_blocks()
        else:
            free = capacity - sum(
                _blocks(s.request.prompt_tokens + s.request.output_tokens, block) for s in running
            )
        alone = not decoding and not chunks
        for seq in waiting:
            request = seq.request
            if slots <= 0 or budget <= 0:
                break
            need = _blocks(
                seq.target + 1 if recompute else request.prompt_tokens + request.output_tokens,
                block,
            )
            if need > free:
                break
            cached = 0
            if cache is not None and request.prefix_group is not None:
                cached = min(
                    cache.cached_tokens(request.prefix_group, request.prefix_tokens),
                    seq.target - 1,
                )
            todo = seq.target - cached
            if profile.chunked_prefill:
                take = min(todo, budget)
            elif todo <= budget or alone:
                take = todo
            else:
                break
            chunks.append((seq, take, cached))
            budget -= take
            slots -= 1
            free -= need
            alone = False
        context = sum(s.request.prompt_tokens + s.emitted for s in decoding)
        duration_s = profile.decode_step_time_s(len(decoding), context)
        if chunks:
            tokens = sum(take for _, take, _ in chunks)
            square = sum((start + take) ** 2 - start**2 for _, take, start in chunks)
            duration_s += (
                profile.prefill_base_s
                + profile.prefill_per_token_s * tokens
                + profile.prefill_per_token2_s * square
            )
        start_s, now_s = now_s, now_s + duration_s
        for seq in decoding:
            seq.emitted += 1
            seq.outcome.token_times_s.append(now_s)
            if seq.emitted == seq.request.output_tokens:
                seq.outcome.end_s = now_s
                seq.phase = "done"
                running.remove(seq)
        for seq, take, start in chunks:
            request = seq.request
            if seq.phase == "wait":
                assert waiting.popleft() is seq
                seq.phase = "pre"
                running.append(seq)
                seq.prefilled = start
                if seq.outcome.scheduled_s is None:
                    seq.outcome.scheduled_s = start_s
                if start and cache is not None and request.prefix_group is not None:
                    cache.touch(request.prefix_group)
            seq.prefilled += take
            if seq.prefilled >= seq.target:
                seq.emitted += 1
                seq.outcome.token_times_s.append(now_s)
                if seq.outcome.first_token_s is None:
                    seq.outcome.first_token_s = now_s
                if cache is not None and request.prefix_group is not None:
                    cache.insert(
                        request.prefix_group, min(request.prefix_tokens, request.prompt_tokens)
                    )
                if seq.emitted == request.output_tokens:
                    seq.outcome.end_s = now_s
                    seq.phase = "done"
                    running.remove(seq)
                else:
                    seq.phase = "dec"
        if math.isinf(now_s):
            raise AssertionError("reference replica ran away")
    return outcomes


NaiveServe = Callable[[Profile, Sequence[float], Sequence[Request]], dict[int, Outcome]]


@pytest.fixture(scope="session")
def reference() -> NaiveServe:
    """The naive reference replica (session-scoped: it is a pure function)."""
    return naive_serve
