import asyncio
import socket
import statistics
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest

from slokit.bench import (
    ERROR_CONNECT,
    ERROR_DISCONNECTED,
    ERROR_HTTP_4XX,
    ERROR_HTTP_5XX,
    ERROR_PROTOCOL,
    ERROR_STREAM,
    BenchClient,
    BenchRequest,
    ClientConfig,
)
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process, serve_emulator
from slokit.emulate.timer import tighten_timer_slack
from slokit.results import TIMEOUT_ERROR, RequestRecord

TTFT_S, ITL_S, TOKENS = 0.050, 0.010, 8
TOLERANCE_S = 0.001
CHAT = {"model": "m", "messages": [{"role": "user", "content": "how are you"}], "max_tokens": 64}


def chat(*, stream: bool = True) -> BenchRequest:
    return BenchRequest(scheduled_s=0.0, endpoint="chat", body={**CHAT, "stream": stream})


async def send_all(
    base_url: str, requests: Sequence[BenchRequest], **config: float
) -> list[RequestRecord]:
    async with BenchClient(ClientConfig(base_url=base_url, **config)) as client:  # type: ignore[arg-type]
        start_s = time.monotonic()
        return [
            await client.send(request, request_id=number, run_start_s=start_s)
            for number, request in enumerate(requests)
        ]


async def staggered(base_url: str, *, stream: bool = True) -> list[RequestRecord]:
    """Twelve requests to ``base_url``, spread so that their tokens are not all due at once."""
    async with BenchClient(ClientConfig(base_url=base_url)) as client:
        start_s = time.monotonic()

        async def one(number: int) -> RequestRecord:
            await asyncio.sleep(number * 0.0023)
            request = chat(stream=stream)
            return await client.send(request, request_id=number, run_start_s=start_s)

        return list(await asyncio.gather(*(one(number) for number in range(12))))


def emulator_config(*, report_usage: bool = True) -> EmulatorConfig:
    timing = FixedTiming(ttft_s=TTFT_S, itl_s=ITL_S, output_tokens=TOKENS)
    return EmulatorConfig(timing=timing, report_usage=report_usage)


async def measure(*, report_usage: bool = True, stream: bool = True) -> list[RequestRecord]:
    async with serve_emulator(emulator_config(report_usage=report_usage)) as running:
        return await staggered(running.base_url, stream=stream)


def median_of(records: list[RequestRecord], metric: str) -> float:
    values = [getattr(record, metric) for record in records]
    return float(statistics.median(value for value in values if value is not None))


@pytest.mark.asyncio
async def test_stream_timings_match_the_servers_known_delays() -> None:
    # The emulator runs in a process of its own (as in a real run), so the client's timings
    # are not delayed by the server's work on the same event loop.
    tighten_timer_slack()
    # Other processes on a small shared machine can only delay a token, never hasten it, so a
    # round that lost the CPU overstates the error: the best of five rounds is the
    # instrument's own accuracy.
    with run_emulator_process(emulator_config()) as base_url:
        rounds = [await staggered(base_url) for _ in range(5)]
    records = min(rounds, key=lambda got: median_of(got, "ttft_s"))
    assert all(record.ok for record in records)
    ttft = median_of(records, "ttft_s")
    assert ttft == pytest.approx(TTFT_S, abs=TOLERANCE_S)
    assert ttft >= TTFT_S
    tpot = min(median_of(got, "tpot_s") for got in rounds)
    assert tpot == pytest.approx(ITL_S, abs=TOLERANCE_S)
    gaps = [gap for record in records for gap in record.itl_s]
    assert len(gaps) == len(records) * (TOKENS - 1)
    assert statistics.median(gaps) == pytest.approx(ITL_S, abs=TOLERANCE_S)
    for record in records:
        assert record.first_token_s == record.chunk_times_s[0]
        assert record.end_s >= record.chunk_times_s[-1]
        assert (record.prompt_tokens, record.output_tokens) == (3, TOKENS)
        assert not record.output_tokens_counted
        assert record.status == 200


@pytest.mark.asyncio
async def test_without_usage_output_tokens_are_counted_chunks() -> None:
    records = await measure(report_usage=False)
    assert {(r.output_tokens, r.output_tokens_counted, r.prompt_tokens) for r in records} == {
        (TOKENS, True, 0)
    }


@pytest.mark.asyncio
async def test_non_streamed_reply_has_end_to_end_time_and_usage() -> None:
    records = await measure(stream=False)
    # The reply leaves the server with its last token; the bound allows for a busy machine.
    last_token_s = TTFT_S + (TOKENS - 1) * ITL_S
    assert last_token_s <= median_of(records, "e2e_s") < last_token_s + 0.005
    for record in records:
        assert record.ok
        assert record.first_token_s is None
        assert record.chunk_times_s == ()
        assert (record.output_tokens, record.output_tokens_counted) == (TOKENS, False)


@pytest.mark.asyncio
async def test_completions_endpoint_streams_too() -> None:
    timing = FixedTiming(ttft_s=0.0, itl_s=0.0, output_tokens=4)
    request = BenchRequest(
        scheduled_s=1.5, endpoint="completions", body={"model": "m", "prompt": "hi", "stream": True}
    )
    async with serve_emulator(EmulatorConfig(timing=timing)) as running:
        (record,) = await send_all(running.base_url, [request])
    assert record.ok
    assert record.scheduled_s == 1.5
    assert len(record.chunk_times_s) == 4
    assert record.output_tokens == 4


@pytest.mark.asyncio
async def test_http_error_connect_refused_and_timeout_become_records() -> None:
    timing = FixedTiming(ttft_s=2.0, itl_s=0.0, output_tokens=1)
    bad = BenchRequest(scheduled_s=0.0, endpoint="chat", body={"model": "m"})
    async with serve_emulator(EmulatorConfig(timing=timing)) as running:
        rejected, slow = await send_all(running.base_url, [bad, chat()], timeout_s=0.2)
    assert (rejected.error, rejected.status) == (ERROR_HTTP_4XX, 400)
    assert slow.error == TIMEOUT_ERROR
    assert slow.e2e_s == pytest.approx(0.2, abs=0.05)

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (refused,) = await send_all(f"http://127.0.0.1:{port}/v1", [chat()])
    assert (refused.error, refused.status, refused.ok) == (ERROR_CONNECT, 0, False)


@asynccontextmanager
async def canned(*parts: bytes, pause_s: float = 0.0) -> AsyncIterator[str]:
    """A server that answers every connection with ``parts``, pausing between them, then closes."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(pause_s)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()


def sse_head(extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n%s\r\n" % (
        extra
    )


@pytest.mark.asyncio
async def test_ttft_skips_role_chunks_and_keep_alive_comments_behind_proxies() -> None:
    parts = [
        sse_head(),
        b": keep-alive\r\n\r\n",
        b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\r\n\r\n',
        b'data: {"choices": [{"delta": {"content": null}}]}\n\n',  # pretty-printed, no text
        b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\ndata: {"choices":[{"del',
        b'ta":{"content":" there"}}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}\n\n',
        b"data: [DONE]\n\n",
    ]
    async with canned(*parts, pause_s=0.02) as base_url:
        (record,) = await send_all(base_url, [chat()])
    assert record.ok
    assert len(record.chunk_times_s) == 2
    # The comment, the role chunk and the empty chunk came 60 ms before the first text.
    assert record.ttft_s is not None
    assert record.ttft_s >= 0.055
    assert (record.prompt_tokens, record.output_tokens) == (4, 2)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("parts", "error", "status"),
    [
        ([b"HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno"], ERROR_HTTP_5XX, 503),
        ([sse_head(), b"data: {broken\n\n"], ERROR_PROTOCOL, 200),
        ([sse_head(), b'data: {"error":{"message":"overloaded"}}\n\n'], ERROR_STREAM, 200),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"], ERROR_DISCONNECTED, 200),
        ([b"NONSENSE\r\n\r\n"], ERROR_PROTOCOL, 0),
    ],
)
async def test_broken_replies_are_classified(parts: list[bytes], error: str, status: int) -> None:
    async with canned(*parts) as base_url:
        (record,) = await send_all(base_url, [chat()])
    assert (record.error, record.status) == (error, status)
    assert record.end_s >= record.sent_s


@pytest.mark.asyncio
async def test_a_stream_without_done_or_usage_still_counts() -> None:
    parts = [sse_head(), b'data: {"choices":[{"text":"a"}]}\n\ndata: {"choices":[{"text":"b"}]}']
    async with canned(*parts) as base_url:
        (record,) = await send_all(base_url, [chat()])
    assert record.ok
    assert (record.output_tokens, record.output_tokens_counted) == (2, True)


def test_configs_are_validated() -> None:
    with pytest.raises(ValueError, match="base_url"):
        ClientConfig(base_url="localhost:8000")
    with pytest.raises(ValueError, match="timeout_s"):
        ClientConfig(base_url="http://x/v1", timeout_s=0)
    with pytest.raises(ValueError, match="endpoint"):
        BenchRequest(scheduled_s=0, endpoint="embeddings", body={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scheduled_s"):
        BenchRequest(scheduled_s=-1, endpoint="chat", body={})
