"""The serving model on the real clock, checked against the profile's formulas and the simulator.

Times come from the emulator's own account (``/timings``): when the model made each token due,
which must match the formulas and the simulator to the microsecond, and when it was written,
which may only be later by a timer's wake-up. The client's view is checked in
test_openai_client.py.
"""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import numpy as np
import pytest
import pytest_asyncio

from slokit.emulate import EmulatorConfig, ProfileTiming, RunningEmulator, serve_emulator
from slokit.errors import ConfigError
from slokit.sim import Profile, simulate
from slokit.workload import LognormalTokens

#: Due times are the model's arithmetic on the real clock: they must match it this closely.
EXACT_S = 1e-6
#: How late a written token may typically be (the median): a timer wake-up on a machine busy
#: with other work. Less than the shortest decode step, so each token is written in its own
#: iteration; the emulator's lateness itself is measured by benchmarks/emulator_streams.py.
LATE_S = 0.010

# Round numbers, and steps far longer than a timer's lateness: prefill of P tokens takes
# 20 ms + P ms; a decode step 10 ms + 5 ms per sequence in the batch.
PROFILE = Profile(
    model="test-model",
    prefill_base_s=0.020,
    prefill_per_token_s=0.001,
    decode_base_s=0.010,
    decode_per_seq_s=0.005,
    max_batch_size=8,
    max_batched_tokens=512,
    kv_capacity_tokens=4096,
    kv_block_tokens=16,
    prefix_cache=True,
)


def words(count: int, word: str = "w") -> str:
    return " ".join([word] * count)


def chat(user: str, *, prompt_words: int = 10, max_tokens: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": words(prompt_words)}],
        "max_tokens": max_tokens,
        "stream": True,
        "user": user,
        **extra,
    }


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def emulating(profile: Profile = PROFILE, **timing: Any) -> Any:
    return serve_emulator(EmulatorConfig(timing=ProfileTiming(profile=profile, **timing)))


async def complete(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> bytes:
    async with session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.read()


async def timings(session: aiohttp.ClientSession, running: RunningEmulator) -> dict[str, Any]:
    """The logged replies by ``user``, each token written at or after it was due."""
    async with session.get(f"{running.url}/timings") as response:
        replies = (await response.json())["replies"]
    lateness_s = [
        written_s - due_s
        for reply in replies
        for due_s, written_s in zip(reply["due_s"], reply["token_s"], strict=True)
    ]
    if lateness_s:
        assert min(lateness_s) >= 0
        assert float(np.median(lateness_s)) <= LATE_S
    return {reply["user"]: reply for reply in replies}


async def stats(session: aiohttp.ClientSession, running: RunningEmulator) -> dict[str, Any]:
    async with session.get(f"{running.url}/stats") as response:
        result: dict[str, Any] = await response.json()
    return result


@pytest.mark.asyncio
async def test_a_lone_request_is_timed_by_the_prefill_and_decode_formulas(
    session: aiohttp.ClientSession,
) -> None:
    prompt, output = 10, 6
    async with emulating() as running:
        await complete(session, f"{running.base_url}/chat/completions", chat("a", max_tokens=6))
        reply = (await timings(session, running))["a"]
    due_s = np.array(reply["due_s"]) - reply["arrival_s"]
    assert len(due_s) == output
    ttft_s = PROFILE.prefill_time_s(prompt)  # 30 ms: nothing else in the iteration
    step_s = PROFILE.decode_step_time_s(1, prompt + 1)  # 15 ms: a batch of one
    assert due_s == pytest.approx(ttft_s + step_s * np.arange(output), abs=EXACT_S)


@pytest.mark.asyncio
async def test_concurrent_requests_batch_exactly_as_the_simulator_predicts(
    session: aiohttp.ClientSession,
) -> None:
    count, output = 4, 8
    url_path = "/chat/completions"
    async with emulating() as running:
        await asyncio.gather(
            *(
                complete(session, running.base_url + url_path, chat(str(i), max_tokens=output))
                for i in range(count)
            )
        )
        replies = await timings(session, running)
    ordered = sorted(replies.values(), key=lambda reply: reply["arrival_s"])
    arrivals = np.array([reply["arrival_s"] for reply in ordered])
    predicted = simulate(
        profile=PROFILE,
        replicas=1,
        arrival_s=arrivals - arrivals[0],
        prompt_tokens=[10] * count,
        output_tokens=[output] * count,
    )
    first = np.array([reply["due_s"][0] for reply in ordered]) - arrivals[0]
    last = np.array([reply["due_s"][-1] for reply in ordered]) - arrivals[0]
    assert first == pytest.approx(predicted.first_token_s, abs=EXACT_S)
    assert last == pytest.approx(predicted.end_s, abs=EXACT_S)
    # The batch shows in the per-token time: the last tokens, all four decoding together, take
    # the step of a batch of four (30 ms), twice a lone sequence's.
    gaps = np.diff(ordered[0]["due_s"])
    assert gaps[-1] == pytest.approx(PROFILE.decode_step_time_s(count, 0), abs=EXACT_S)
    assert gaps[-1] == pytest.approx(2 * PROFILE.decode_step_time_s(1, 0), abs=EXACT_S)


@pytest.mark.asyncio
async def test_a_cancelled_stream_frees_its_slot_for_the_next_request(
    session: aiohttp.ClientSession,
) -> None:
    # One sequence at a time: the second request can only start when the first leaves.
    profile = replace(PROFILE, max_batch_size=1)
    async with emulating(profile) as running:
        url = f"{running.base_url}/chat/completions"
        async with session.post(url, json=chat("long", max_tokens=200)) as first:
            queued = asyncio.ensure_future(complete(session, url, chat("next", max_tokens=2)))
            seen = 0
            async for line in first.content:
                seen += b'"content":"' in line and b'"content":""' not in line
                if seen == 3:
                    break
            first.close()  # the client goes away mid-stream
        await queued
        replies = await timings(session, running)
        state = await stats(session, running)
    long, following = replies["long"], replies["next"]
    assert long["outcome"] == "cancelled"
    assert 3 <= len(long["token_s"]) < 200
    # The next request is admitted at the end of the iteration in progress when the abort
    # arrived, then prefilled: far sooner than the 197 decode steps the first had left.
    wait_s = following["due_s"][0] - long["token_s"][-1]
    assert wait_s <= 2 * PROFILE.decode_step_time_s(1, 0) + PROFILE.prefill_time_s(10) + LATE_S
    assert state["cancelled"] == 1
    assert state["model"]["cancelled"] == 1
    replica = state["model"]["replicas"][0]
    assert (replica["outstanding"], replica["running"], replica["kv_used_tokens"]) == (0, 0, 0)
    assert state["in_flight"] == 0


@pytest.mark.asyncio
async def test_a_repeated_system_prompt_is_served_from_the_prefix_cache(
    session: aiohttp.ClientSession,
) -> None:
    system = {"role": "system", "content": words(64, "rules")}
    body = {
        "model": "m",
        "messages": [system, {"role": "user", "content": words(10)}],
        "max_tokens": 1,
    }
    async with emulating() as running:
        url = f"{running.base_url}/chat/completions"
        await complete(session, url, {**body, "user": "cold"})
        await complete(session, url, {**body, "user": "warm"})
        replies = await timings(session, running)
        state = await stats(session, running)
    ttft = {user: reply["due_s"][0] - reply["arrival_s"] for user, reply in replies.items()}
    assert ttft["cold"] == pytest.approx(PROFILE.prefill_time_s(74), abs=EXACT_S)
    # 64 prefix tokens are four whole 16-token blocks: only the 10 new tokens are prefilled.
    assert ttft["warm"] == pytest.approx(PROFILE.prefill_time_s(10), abs=EXACT_S)
    assert state["model"]["replicas"][0]["prefix_hit_tokens"] == 64


@pytest.mark.asyncio
async def test_a_request_that_can_never_fit_is_refused_like_a_context_overflow(
    session: aiohttp.ClientSession,
) -> None:
    async with emulating() as running:
        body = chat("huge", max_tokens=PROFILE.kv_capacity_tokens)
        async with session.post(f"{running.base_url}/chat/completions", json=body) as response:
            assert response.status == 400
            error = (await response.json())["error"]
        state = await stats(session, running)
    assert error["code"] == "context_length_exceeded"
    assert error["param"] == "max_tokens"
    assert "4096" in error["message"]
    assert (state["requests"], state["rejected"], state["in_flight"]) == (0, 1, 0)


@pytest.mark.asyncio
async def test_replicas_share_the_load_so_each_decodes_alone(
    session: aiohttp.ClientSession,
) -> None:
    async with emulating(replicas=2) as running:
        url = f"{running.base_url}/chat/completions"
        await asyncio.gather(*(complete(session, url, chat(str(i))) for i in range(2)))
        replies = await timings(session, running)
        state = await stats(session, running)
    assert [replica["iterations"] for replica in state["model"]["replicas"]] == [5, 5]
    for reply in replies.values():
        due_s = np.array(reply["due_s"]) - reply["arrival_s"]
        assert due_s[0] == pytest.approx(PROFILE.prefill_time_s(10), abs=EXACT_S)
        assert np.diff(due_s) == pytest.approx(PROFILE.decode_step_time_s(1, 0), abs=EXACT_S)


@pytest.mark.asyncio
async def test_reply_lengths_without_max_tokens_are_drawn_from_the_seed(
    session: aiohttp.ClientSession,
) -> None:
    lengths = LognormalTokens(mean_tokens=4.0, cv=0.6)
    fast = replace(PROFILE, prefill_base_s=0.0, prefill_per_token_s=1e-5, decode_base_s=1e-4)

    async def reply_lengths(seed: int) -> list[int]:
        async with emulating(fast, output_tokens=lengths, seed=seed) as running:
            body = {"model": "m", "prompt": "x"}
            url = f"{running.base_url}/completions"
            counts = []
            for _ in range(12):
                async with session.post(url, json=body) as response:
                    counts.append((await response.json())["usage"]["completion_tokens"])
        return counts

    first, again, other = await reply_lengths(1), await reply_lengths(1), await reply_lengths(2)
    assert first == again
    assert first != other
    assert len(set(first)) > 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"replicas": 0}, "replicas must be an integer >= 1"),
        ({"replicas": True}, "replicas must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"output_tokens": 16}, "output_tokens must be a token sampler"),
    ],
)
def test_profile_timing_refuses_what_it_cannot_serve(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ProfileTiming(profile=PROFILE, **arguments)
