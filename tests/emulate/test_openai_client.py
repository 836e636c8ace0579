"""The official OpenAI SDK, sync and async, against the emulator serving a profile.

The emulator runs in a process of its own, as a user runs it, so the client measures it as it
would a real endpoint: a token can never come sooner than the model makes it, and comes later
only by the time it takes to travel and be read.
"""

import asyncio
import itertools
import statistics
import time
from collections.abc import Iterator

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from slokit.emulate import EmulatorConfig, ProfileTiming, run_emulator_process
from slokit.sim import Profile

PROFILE = Profile(
    model="sdk-model",
    prefill_base_s=0.010,
    prefill_per_token_s=0.0005,
    decode_base_s=0.005,
    decode_per_seq_s=0.001,
    max_batch_size=16,
    max_batched_tokens=1024,
    kv_capacity_tokens=8192,
)
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name four animals please"},
]
PROMPT_WORDS = 7
#: Travel and reading on the client's side, on a machine busy with other work.
CLIENT_SLACK_S = 0.025


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    config = EmulatorConfig(timing=ProfileTiming(profile=PROFILE), served_model="sdk-model")
    with run_emulator_process(config) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["sdk-model"]


def test_sync_chat_reply(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="sdk-model", messages=MESSAGES, max_tokens=4)  # type: ignore[arg-type]
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == "The quick brown fox"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (PROMPT_WORDS, 4)


def test_sync_chat_stream_keeps_the_profile_timing(client: openai.OpenAI) -> None:
    tokens = 21

    def create() -> openai.Stream[ChatCompletionChunk]:
        return client.chat.completions.create(
            model="sdk-model",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=tokens,
            stream=True,
            stream_options={"include_usage": True},
        )

    # The SDK builds its chunk models and opens its connection on first use: not the server's.
    assert sum(1 for _ in create()) > tokens
    sent_s = time.monotonic()
    stream = create()
    arrivals_s: list[float] = []
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals_s.append(time.monotonic())
        if chunk.usage is not None:
            usage = chunk.usage
    assert len(arrivals_s) == tokens
    assert usage is not None
    assert usage.completion_tokens == tokens
    ttft_s = arrivals_s[0] - sent_s
    tpot_s = (arrivals_s[-1] - arrivals_s[0]) / (tokens - 1)
    predicted_ttft_s = PROFILE.prefill_time_s(PROMPT_WORDS)  # 13.5 ms
    # A lone sequence's step grows with its context only through decode_per_context_token_s,
    # which this profile leaves at 0: every step is 6 ms.
    predicted_tpot_s = PROFILE.decode_step_time_s(1, 0)
    assert predicted_ttft_s <= ttft_s <= predicted_ttft_s + CLIENT_SLACK_S
    # Lateness of the first and last token only, spread over 20 steps.
    assert tpot_s == pytest.approx(predicted_tpot_s, abs=CLIENT_SLACK_S / (tokens - 1))


def test_sync_completions_stream_and_reply(client: openai.OpenAI) -> None:
    stream = client.completions.create(
        model="sdk-model", prompt="Once upon a time", max_tokens=3, stream=True
    )
    texts = [chunk.choices[0].text for chunk in stream if chunk.choices]
    assert "".join(texts) == "The quick brown"
    reply = client.completions.create(model="sdk-model", prompt=[1, 2, 3], max_tokens=2)
    assert reply.choices[0].text == "The quick"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 3


def test_a_request_too_long_for_the_kv_cache_is_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="sdk-model",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=PROFILE.kv_capacity_tokens,
        )
    assert raised.value.code == "context_length_exceeded"


@pytest.mark.asyncio
async def test_async_client_streams_concurrently_and_in_batch(base_url: str) -> None:
    count, tokens = 6, 11
    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as sdk:

        async def gaps() -> list[float]:
            stream = await sdk.chat.completions.create(
                model="sdk-model",
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=tokens,
                stream=True,
            )
            seen = [
                time.monotonic()
                async for chunk in stream
                if chunk.choices and chunk.choices[0].delta.content
            ]
            return [later - earlier for earlier, later in itertools.pairwise(seen)]

        per_request = await asyncio.gather(*(gaps() for _ in range(count)))
        reply = await sdk.completions.create(model="sdk-model", prompt="x", max_tokens=2)
    assert reply.choices[0].text == "The quick"
    assert all(len(request) == tokens - 1 for request in per_request)
    # While the six decode together a step costs the batch of six (11 ms), not one (6 ms).
    typical_s = statistics.median(gap for request in per_request for gap in request)
    assert PROFILE.decode_step_time_s(1, 0) + 0.002 < typical_s
    assert typical_s < PROFILE.decode_step_time_s(count, 0) + CLIENT_SLACK_S / 4
