"""Closed forms for a run of iterations whose batch does not change (the simulator's fast path).

While no sequence joins, finishes or is evicted, every decode step adds one token to each of the
``n`` sequences, so the batch's context grows by ``n`` tokens per step and step ``t`` (from 0)
takes ``A + 2 H t`` seconds, where ``A`` is the first step's time and
``H = decode_per_context_token_s * n / 2``. Iteration ``j`` (from 1) therefore ends at::

    end(j) = start + j * A + H * j * (j - 1)

KV blocks: a sequence holding ``L`` tokens needs a new block in the step that takes it past a
multiple of the block size ``B``, i.e. when ``L % B == 0``. Sequences are counted by the step
residue at which that happens (``crossings[r]`` = sequences that need a block in every step
``t`` with ``t % B == r``), so the blocks added over ``k`` steps from step ``i`` are::

    growth(i, k) = (k // B) * n + sum(crossings[(i + t) % B] for t in range(k % B))
"""

from __future__ import annotations

import math


def iteration_end_s(start_s: float, first_s: float, half_slope_s: float, iterations: int) -> float:
    """When iteration ``j = iterations`` of a stable run ends: ``start + j A + H j (j - 1)``."""
    return start_s + iterations * first_s + half_slope_s * iterations * (iterations - 1)


def iterations_done_by(
    start_s: float, first_s: float, half_slope_s: float, limit: int, until_s: float
) -> int:
    """The most iterations ``j <= limit`` of a stable run that end at or before ``until_s``.

    Solves ``H j**2 + (A - H) j <= until_s - start_s`` for the largest integer ``j``, then checks
    the neighbours with :func:`iteration_end_s` so that the answer agrees with it exactly.
    """
    elapsed_s = until_s - start_s
    if elapsed_s < 0:
        return 0
    if half_slope_s > 0:
        linear = first_s - half_slope_s
        root = (-linear + math.sqrt(linear * linear + 4.0 * half_slope_s * elapsed_s)) / (
            2.0 * half_slope_s
        )
        done = min(limit, int(root))
    elif first_s > 0:
        done = min(limit, int(elapsed_s / first_s))
    else:
        return limit
    while done < limit and iteration_end_s(start_s, first_s, half_slope_s, done + 1) <= until_s:
        done += 1
    while done > 0 and iteration_end_s(start_s, first_s, half_slope_s, done) > until_s:
        done -= 1
    return done


def first_ending_at_or_after(
    start_s: float, first_s: float, half_slope_s: float, limit: int, at_s: float
) -> int:
    """The first iteration ``j`` in ``1..limit`` that ends at or after ``at_s`` (``limit`` if none).

    This is the iteration in progress at ``at_s``: a request arriving then can join the batch
    at its end, and not earlier.
    """
    done = iterations_done_by(start_s, first_s, half_slope_s, limit, at_s)
    if done >= 1 and iteration_end_s(start_s, first_s, half_slope_s, done) == at_s:
        return done
    return min(done + 1, limit)


def _partial_crossings(crossings: list[int], iteration: int, steps: int) -> int:
    """``sum(crossings[(iteration + t) % B] for t in range(steps))`` for ``steps < B``."""
    if steps <= 0:
        return 0
    block_tokens = len(crossings)
    first = iteration % block_tokens
    last = first + steps
    if last <= block_tokens:
        return sum(crossings[first:last])
    return sum(crossings[first:]) + sum(crossings[: last - block_tokens])


def kv_growth_blocks(crossings: list[int], sequences: int, iteration: int, steps: int) -> int:
    """Blocks a stable batch of ``sequences`` adds in ``steps`` steps from step ``iteration``."""
    block_tokens = len(crossings)
    return (steps // block_tokens) * sequences + _partial_crossings(
        crossings, iteration, steps % block_tokens
    )


def kv_fit_steps(crossings: list[int], sequences: int, iteration: int, free_blocks: int) -> int:
    """The most steps from step ``iteration`` whose growth stays within ``free_blocks``.

    Whole cycles of ``B`` steps add ``n`` blocks each, so ``q = free // n`` cycles fit and the
    rest of the budget is spent on the longest partial cycle it covers.
    """
    if free_blocks < 0:
        return 0
    if sequences == 0:
        # No sequence grows: any number of steps fits.
        return 1 << 62
    block_tokens = len(crossings)
    cycles, left_blocks = divmod(free_blocks, sequences)
    steps = 0
    index = iteration % block_tokens
    # left_blocks < sequences = one full cycle's growth, so the loop stops within the cycle.
    while steps < block_tokens - 1:
        needed = crossings[index]
        if needed > left_blocks:
            break
        left_blocks -= needed
        steps += 1
        index = index + 1 if index + 1 < block_tokens else 0
    return cycles * block_tokens + steps
