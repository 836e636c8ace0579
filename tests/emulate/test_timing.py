import asyncio
import statistics
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slokit.emulate import DEFAULT_OUTPUT_TOKENS, FixedTiming, TimingRequest
from slokit.emulate.timer import DeadlineTimer


def offsets(timing: FixedTiming, max_tokens: int | None) -> list[float]:
    request = TimingRequest(prompt_tokens=5, max_tokens=max_tokens, stream=True)
    return list(timing.token_offsets(request))


def test_fixed_timing_offsets_are_absolute_from_arrival() -> None:
    assert offsets(FixedTiming(ttft_s=0.05, itl_s=0.01, output_tokens=3), None) == pytest.approx(
        [0.05, 0.06, 0.07]
    )


def test_output_length_follows_max_tokens_then_the_default() -> None:
    assert len(offsets(FixedTiming(ttft_s=0, itl_s=0), 5)) == 5
    assert len(offsets(FixedTiming(ttft_s=0, itl_s=0), None)) == DEFAULT_OUTPUT_TOKENS


@given(
    wanted=st.integers(min_value=1, max_value=50),
    limit=st.none() | st.integers(min_value=1, max_value=50),
)
def test_a_fixed_length_never_exceeds_max_tokens(wanted: int, limit: int | None) -> None:
    produced = len(offsets(FixedTiming(ttft_s=0, itl_s=0.001, output_tokens=wanted), limit))
    assert produced == (wanted if limit is None else min(wanted, limit))


@pytest.mark.parametrize(
    "arguments",
    [
        {"ttft_s": -1.0, "itl_s": 0.0},
        {"ttft_s": 0.0, "itl_s": float("nan")},
        {"ttft_s": 0.0, "itl_s": 0.0, "output_tokens": 0},
    ],
)
def test_fixed_timing_rejects_impossible_values(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        FixedTiming(**arguments)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_deadline_timer_fires_in_order_and_close_to_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    timer = DeadlineTimer(loop)
    precise = timer.precise
    fired: list[tuple[int, float]] = []
    done = loop.create_future()
    start_s = time.monotonic()
    deadlines = [start_s + 0.004 * (index + 1) for index in range(10)]

    def fire(index: int) -> None:
        fired.append((index, time.monotonic()))
        if len(fired) == len(deadlines):
            done.set_result(None)

    for index, deadline_s in reversed(list(enumerate(deadlines))):
        timer.call_at(deadline_s, fire, index)
    timer.call_at(start_s + 0.002, fire, 99).cancel()
    await asyncio.wait_for(done, 2.0)
    timer.close()
    assert [index for index, _ in fired] == list(range(10))
    lateness_s = [fired_s - deadlines[index] for index, fired_s in fired]
    assert min(lateness_s) >= 0
    if precise:
        # A kernel timer: well under the loop's own whole-millisecond rounding.
        assert statistics.median(lateness_s) < 0.0005
