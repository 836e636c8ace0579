import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from slokit.emulate import EmulatorConfig, FixedTiming, RunningEmulator, serve_emulator

CHAT = {"model": "m", "messages": [{"role": "user", "content": "one two three"}]}


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    timing = FixedTiming(ttft_s=0.002, itl_s=0.001, output_tokens=3)
    async with serve_emulator(EmulatorConfig(timing=timing)) as running:
        yield running


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def events(text: str) -> list[Any]:
    """The data payloads of an SSE body, JSON-decoded except ``[DONE]``."""
    blocks = [block for block in text.split("\n\n") if block]
    payloads = [block.removeprefix("data: ") for block in blocks]
    return [payload if payload == "[DONE]" else orjson.loads(payload) for payload in payloads]


@pytest.mark.asyncio
async def test_chat_stream_follows_openai_chunk_format(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with session.post(f"{emulator.base_url}/chat/completions", json=body) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        chunks = events(await response.text())
    assert chunks[-1] == "[DONE]"
    role, *tokens, finish, usage, _ = chunks
    assert role["object"] == "chat.completion.chunk"
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [token["choices"][0]["delta"]["content"] for token in tokens] == [
        "The",
        " quick",
        " brown",
    ]
    assert all(chunk["usage"] is None for chunk in [role, *tokens, finish])
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert len({chunk["id"] for chunk in chunks[:-1]}) == 1
    assert emulator.stats.requests == 1
    assert emulator.stats.in_flight == 0


@pytest.mark.asyncio
async def test_completion_stream_without_include_usage_has_no_usage(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    body = {"model": "m", "prompt": "a b", "stream": True, "max_tokens": 2}
    async with session.post(f"{emulator.base_url}/completions", json=body) as response:
        chunks = events(await response.text())
    *tokens, finish, done = chunks
    assert done == "[DONE]"
    assert [token["choices"][0]["text"] for token in tokens] == ["The", " quick"]
    assert all(chunk["object"] == "text_completion" for chunk in chunks[:-1])
    assert all("usage" not in chunk for chunk in chunks[:-1])
    assert finish["choices"][0]["finish_reason"] == "length"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "body"),
    [("chat/completions", CHAT), ("completions", {"model": "m", "prompt": [1, 2, 3]})],
)
async def test_non_streamed_reply_carries_text_and_usage(
    emulator: RunningEmulator, session: aiohttp.ClientSession, path: str, body: dict[str, Any]
) -> None:
    async with session.post(f"{emulator.base_url}/{path}", json=body) as response:
        reply = await response.json()
    choice = reply["choices"][0]
    if path == "completions":
        assert (reply["object"], choice["text"]) == ("text_completion", "The quick brown")
    else:
        assert reply["object"] == "chat.completion"
        assert choice["message"]["content"] == "The quick brown"
        assert choice["message"]["role"] == "assistant"
    assert reply["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


@pytest.mark.asyncio
async def test_usage_can_be_left_out(session: aiohttp.ClientSession) -> None:
    config = EmulatorConfig(timing=FixedTiming(ttft_s=0, itl_s=0), report_usage=False)
    async with serve_emulator(config) as running:
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        url = f"{running.base_url}/chat/completions"
        async with session.post(url, json=body) as response:
            text = await response.text()
        async with session.post(url, json=CHAT) as response:
            reply = await response.json()
    assert '"usage":{' not in text
    assert "usage" not in reply


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1]", None),
        (orjson.dumps({"messages": [{"role": "user", "content": "x"}]}), "model"),
        (orjson.dumps({"model": "m", "messages": []}), "messages"),
        (orjson.dumps({**CHAT, "max_tokens": 0}), "max_tokens"),
        (orjson.dumps({**CHAT, "stream": "yes"}), "stream"),
        (orjson.dumps({**CHAT, "stream_options": {"include_usage": True}}), "stream_options"),
        (orjson.dumps({**CHAT, "n": 2}), "n"),
    ],
)
async def test_malformed_requests_get_openai_error_bodies(
    emulator: RunningEmulator, session: aiohttp.ClientSession, body: bytes, param: str | None
) -> None:
    url = f"{emulator.base_url}/chat/completions"
    async with session.post(url, data=body) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert emulator.stats.rejected == 1


@pytest.mark.asyncio
async def test_models_health_stats_and_unknown_routes(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{emulator.base_url}/models") as response:
        assert (await response.json())["data"][0]["id"] == "slokit-emulated"
    async with session.get(f"{emulator.url}/healthz") as response:
        assert response.status == 200
    async with session.get(f"{emulator.url}/stats") as response:
        state = await response.json()
    assert state.items() >= emulator.stats.to_json().items()
    assert state["cpu_s"] > 0
    assert "model" not in state  # a fixed timing has no serving model to describe
    async with session.get(f"{emulator.base_url}/chat/completions") as response:
        assert response.status == 405
    async with session.post(f"{emulator.base_url}/embeddings", json={}) as response:
        assert response.status == 404
        assert "error" in await response.json()


async def exchange(emulator: RunningEmulator, raw: bytes, *, until: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(emulator.host, emulator.port)
    writer.write(raw)
    received = b""
    try:
        while until not in received:
            data = await asyncio.wait_for(reader.read(65536), 2.0)
            if not data:
                break
            received += data
    finally:
        writer.close()
    return received


def post(path: str, body: bytes, *extra: bytes) -> bytes:
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n" % (path.encode(), len(body))
    return head + b"".join(extra) + b"\r\n" + body


@pytest.mark.asyncio
async def test_pipelined_requests_on_one_connection_are_answered_in_order(
    emulator: RunningEmulator,
) -> None:
    first = post("/v1/completions", orjson.dumps({"model": "first", "prompt": "x"}))
    second = post("/v1/completions", orjson.dumps({"model": "second", "prompt": "x"}))
    received = await exchange(emulator, first + second, until=b'"second"')
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.index(b'"first"') < received.index(b'"second"')


@pytest.mark.asyncio
async def test_chunked_request_body_and_expect_continue(emulator: RunningEmulator) -> None:
    body = orjson.dumps({"model": "chunky", "prompt": "x"})
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = (
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    received = await exchange(emulator, head + chunked, until=b'"chunky"')
    assert b'"chunky"' in received


@pytest.mark.asyncio
async def test_http10_stream_ends_by_closing(emulator: RunningEmulator) -> None:
    body = orjson.dumps({"model": "m", "prompt": "x", "stream": True})
    raw = post("/v1/completions", body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    received = await exchange(emulator, raw, until=b"never")
    assert b"Transfer-Encoding" not in received
    assert received.endswith(b"data: [DONE]\n\n")


@pytest.mark.asyncio
async def test_garbage_gets_400_and_the_connection_closes(emulator: RunningEmulator) -> None:
    received = await exchange(emulator, b"HELLO\r\n\r\n", until=b"never")
    assert received.startswith(b"HTTP/1.1 400")
    assert b"Connection: close" in received


@pytest.mark.asyncio
async def test_a_client_leaving_mid_stream_frees_its_slot() -> None:
    config = EmulatorConfig(timing=FixedTiming(ttft_s=0.001, itl_s=1.0, output_tokens=5))
    async with serve_emulator(config) as running:
        body = orjson.dumps({"model": "m", "prompt": "x", "stream": True})
        await exchange(running, post("/v1/completions", body), until=b'"The"')
        for _ in range(100):
            if running.stats.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert running.stats.in_flight == 0
        assert running.stats.max_in_flight == 1


@pytest.mark.asyncio
async def test_expect_continue_is_answered_before_the_body(emulator: RunningEmulator) -> None:
    body = orjson.dumps({"model": "patient", "prompt": "x"})
    reader, writer = await asyncio.open_connection(emulator.host, emulator.port)
    try:
        writer.write(
            post("/v1/completions", b"", b"Expect: 100-continue\r\n").replace(
                b"Content-Length: 0", b"Content-Length: %d" % len(body)
            )
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /v1/completions HTTP/1.1\r\nContent-Length: ten\r\n\r\n", b"400"),
        (b"POST /v1/completions HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n", b"413"),
        (b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
        (b"POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, b"431"),
    ],
)
async def test_unusable_framing_is_refused(
    emulator: RunningEmulator, raw: bytes, status: bytes
) -> None:
    received = await exchange(emulator, raw, until=b"never")
    assert received.startswith(b"HTTP/1.1 " + status)
    assert orjson.loads(received.split(b"\r\n\r\n", 1)[1])["error"]["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "fields", "prompt_tokens"),
    [
        (
            "chat/completions",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "two words"}, {"type": "image_url"}],
                    }
                ]
            },
            2,
        ),
        ("chat/completions", {"messages": [{"role": "assistant", "content": None}]}, 0),
        ("completions", {"prompt": ["three more words"]}, 3),
        ("completions", {"prompt": [[5, 6, 7, 8]]}, 4),
    ],
)
async def test_prompt_tokens_are_whitespace_words_or_token_ids(
    emulator: RunningEmulator,
    session: aiohttp.ClientSession,
    path: str,
    fields: dict[str, Any],
    prompt_tokens: int,
) -> None:
    body = {"model": "m", "max_tokens": 1, **fields}
    async with session.post(f"{emulator.base_url}/{path}", json=body) as response:
        assert (await response.json())["usage"]["prompt_tokens"] == prompt_tokens


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "fields", "param"),
    [
        ("chat/completions", {"messages": ["hi"]}, "messages[0]"),
        ("chat/completions", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ("completions", {"prompt": ["a", "b"]}, "prompt"),
        ("completions", {"prompt": {"text": "a"}}, "prompt"),
    ],
)
async def test_unsupported_prompts_name_the_parameter(
    emulator: RunningEmulator,
    session: aiohttp.ClientSession,
    path: str,
    fields: dict[str, Any],
    param: str,
) -> None:
    async with session.post(f"{emulator.base_url}/{path}", json={"model": "m", **fields}) as reply:
        assert reply.status == 400
        assert (await reply.json())["error"]["param"] == param


@pytest.mark.asyncio
async def test_timings_log_when_each_token_was_due_and_written(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    body = {**CHAT, "stream": True, "user": "timed"}
    async with session.post(f"{emulator.base_url}/chat/completions", json=body) as response:
        await response.read()
    async with session.get(f"{emulator.url}/timings") as response:
        (reply,) = (await response.json())["replies"]
    assert (reply["user"], reply["outcome"]) == ("timed", "completed")
    assert reply["id"].startswith("chatcmpl-")
    # FixedTiming(ttft_s=0.002, itl_s=0.001): due at fixed offsets from the arrival.
    offsets = [due_s - reply["arrival_s"] for due_s in reply["due_s"]]
    assert offsets == pytest.approx([0.002, 0.003, 0.004], abs=1e-9)
    assert all(
        written_s >= due_s
        for due_s, written_s in zip(reply["due_s"], reply["token_s"], strict=True)
    )


@pytest.mark.asyncio
async def test_timings_can_be_turned_off(session: aiohttp.ClientSession) -> None:
    config = EmulatorConfig(timing=FixedTiming(ttft_s=0, itl_s=0), timing_log=0)
    async with serve_emulator(config) as running:
        async with session.post(
            f"{running.base_url}/completions", json={"model": "m", "prompt": "x"}
        ):
            pass
        async with session.get(f"{running.url}/timings") as response:
            assert await response.json() == {"replies": []}
