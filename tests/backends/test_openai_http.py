"""The HTTP backend against the emulator: replies, streams and each deadline."""

from __future__ import annotations

import orjson
import pytest

from slokit.backends.errors import UpstreamTimeoutError, UpstreamUnavailableError
from slokit.backends.local import free_port
from slokit.backends.openai_http import OpenAIHttpBackend, Timeouts
from slokit.emulate import EmulatorConfig, FixedTiming, serve_emulator
from slokit.errors import ConfigError

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


@pytest.mark.asyncio
async def test_whole_and_streamed_replies() -> None:
    timing = FixedTiming(ttft_s=0.0, itl_s=0.0)
    async with serve_emulator(EmulatorConfig(timing=timing)) as emulator:
        backend = OpenAIHttpBackend(name="r", base_url=emulator.base_url, api_key="k")
        reply = await backend.send("/chat/completions", orjson.dumps(CHAT), stream=False)
        assert reply.status == 200
        assert not reply.streaming
        assert orjson.loads(reply.body)["usage"]["completion_tokens"] == 3
        body = orjson.dumps({**CHAT, "stream": True})
        reply = await backend.send("/chat/completions", body, stream=True)
        assert reply.streaming
        assert reply.body.startswith(b"data: ")
        rest = b"".join([chunk async for chunk in reply.chunks()])
        assert (reply.body + rest).endswith(b"data: [DONE]\n\n")


@pytest.mark.asyncio
async def test_first_token_and_inter_chunk_deadlines() -> None:
    slow_first = FixedTiming(ttft_s=5.0, itl_s=0.0)
    async with serve_emulator(EmulatorConfig(timing=slow_first)) as emulator:
        timeouts = Timeouts(first_token_s=0.05, inter_chunk_s=1.0, total_s=2.0)
        backend = OpenAIHttpBackend(name="r", base_url=emulator.base_url, timeouts=timeouts)
        body = orjson.dumps({"model": "m", "prompt": "x", "stream": True})
        with pytest.raises(UpstreamTimeoutError, match=r"no first token within 0\.05 s") as caught:
            await backend.send("/completions", body, stream=True)
        assert caught.value.sent
        assert caught.value.status == 504
    stalled = FixedTiming(ttft_s=0.0, itl_s=5.0)
    async with serve_emulator(EmulatorConfig(timing=stalled)) as emulator:
        timeouts = Timeouts(first_token_s=1.0, inter_chunk_s=0.05, total_s=2.0)
        backend = OpenAIHttpBackend(name="r", base_url=emulator.base_url, timeouts=timeouts)
        body = orjson.dumps({"model": "m", "prompt": "x", "stream": True, "max_tokens": 3})
        reply = await backend.send("/completions", body, stream=True)
        with pytest.raises(UpstreamTimeoutError, match=r"no chunk for 0\.05 s"):
            async for _ in reply.chunks():
                pass


@pytest.mark.asyncio
async def test_refused_connection_was_never_sent() -> None:
    backend = OpenAIHttpBackend(name="r", base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(UpstreamUnavailableError) as caught:
        await backend.send("/chat/completions", orjson.dumps(CHAT), stream=False)
    assert not caught.value.sent
    assert caught.value.status == 503


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"timeouts\.inter_chunk must be > 0"):
        Timeouts(inter_chunk_s=0)
