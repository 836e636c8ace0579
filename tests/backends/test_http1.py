"""The stream client against a scripted raw HTTP/1.1 server: keep-alive, stale connections,
bodies ended by the connection, error statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest

from slokit.backends.errors import UpstreamError
from slokit.backends.http1 import ConnectionPool
from slokit.backends.openai_http import OpenAIHttpBackend

SSE = b"data: {}\n\n"
CHUNKED_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"%x\r\n%s\r\n0\r\n\r\n" % (len(SSE), SSE)
)

#: What the server does with each request: the bytes to answer, and whether to close after.
Script = Callable[[int], tuple[bytes, bool]]


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[tuple[str, list[int]]]:
    """A server answering request ``n`` (counted across connections) with ``script(n)``;
    yields its base URL and the count of connections it accepted (one list item each)."""
    connections: list[int] = []
    requests = 0
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        connections.append(1)
        writers.append(writer)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                reply, close = script(requests)
                requests += 1
                writer.write(reply)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", connections
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def stream_once(backend: OpenAIHttpBackend) -> bytes:
    reply = await backend.send("/completions", b'{"stream": true}', stream=True)
    return reply.body + b"".join([chunk async for chunk in reply.chunks()])


@pytest.mark.asyncio
async def test_streams_reuse_one_connection() -> None:
    async with raw_server(lambda _: (CHUNKED_OK, False)) as (url, connections):
        backend = OpenAIHttpBackend(name="r", base_url=url)
        for _ in range(3):
            assert await stream_once(backend) == SSE
        assert len(connections) == 1
        backend.close()


@pytest.mark.asyncio
async def test_a_connection_the_upstream_closed_is_replaced() -> None:
    async with raw_server(lambda _: (CHUNKED_OK, True)) as (url, connections):
        backend = OpenAIHttpBackend(name="r", base_url=url)
        assert await stream_once(backend) == SSE
        await asyncio.sleep(0.05)  # the close reaches the pooled connection
        assert await stream_once(backend) == SSE
        assert len(connections) == 2
        backend.close()


@pytest.mark.asyncio
async def test_a_body_without_length_ends_with_the_connection() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    async with raw_server(lambda _: (reply + SSE + SSE, True)) as (url, _):
        backend = OpenAIHttpBackend(name="r", base_url=url)
        assert await stream_once(backend) == SSE + SSE
        backend.close()


@pytest.mark.asyncio
async def test_error_statuses_of_a_stream() -> None:
    failed = b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n{}"
    refused = b"HTTP/1.1 400 Bad\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    async with raw_server(lambda n: (failed if n == 0 else refused, False)) as (url, _):
        backend = OpenAIHttpBackend(name="r", base_url=url)
        with pytest.raises(UpstreamError, match="answered HTTP 500") as caught:
            await backend.send("/completions", b"{}", stream=True)
        assert caught.value.retryable
        reply = await backend.send("/completions", b"{}", stream=True)
        assert (reply.status, reply.body, reply.streaming) == (400, b"{}", False)
        backend.close()


@pytest.mark.asyncio
async def test_idle_connections_beyond_the_idle_time_are_closed() -> None:
    async with raw_server(lambda _: (CHUNKED_OK, False)) as (url, connections):
        pool = ConnectionPool(urlsplit(url).hostname or "", urlsplit(url).port or 0, idle_s=0.01)
        first, second = await pool.connect(), await pool.connect()
        for connection in (first, second):
            connection.start(b"POST /v1/completions HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            while not connection.finished:
                await connection.wait()
        pool.release(first)
        await asyncio.sleep(0.05)
        pool.release(second)  # finds the first idle too long: closes it
        assert not first.reusable
        assert await pool.connect() is second
        assert len(connections) == 2
        second.close()
