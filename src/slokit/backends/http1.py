"""A lean HTTP/1.1 client for upstream calls: a keep-alive pool, httptools (llhttp) parsing.

Why not aiohttp: per chunk of a stream, its ``StreamReader`` feeds a buffer, wakes a waiter
and, on every read, calls ``resume_reading`` (which re-feeds the parser with ``b""`` and
resumes the transport). Measured on the emulator (50-chunk SSE replies 0.5 ms apart, uvloop,
client CPU per stream): aiohttp ``readany`` 1.50-1.58 ms, a bare protocol 0.63-0.65 ms. Here
each read of the socket is parsed by httptools (llhttp, C) straight into a list, and the one
waiting reader is woken once per read.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from ssl import SSLContext

import httptools


class UpstreamConnection(asyncio.Protocol):
    """One upstream connection; carries one exchange at a time."""

    __slots__ = (
        "_delimited",
        "_loop",
        "_parser",
        "_waiter",
        "chunks",
        "content_type",
        "error",
        "finished",
        "headers_done",
        "keep_alive",
        "status",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.status = 0
        self.content_type = ""
        self.headers_done = False
        self.finished = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self._delimited = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Nagle against the upstream's delayed ACK would hold a small request ~40 ms.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.error = error
            self.close()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.error is None and not self.finished:
            if exc is None and self.headers_done and not self._delimited:
                self.finished = True  # a body without length or chunks ends with the connection
            else:
                self.error = exc or ConnectionResetError("the upstream closed the connection")
        self._wake()

    # --- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value.decode("latin-1")
        elif name in (b"content-length", b"transfer-encoding"):
            self._delimited = True

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.finished = True
        self.keep_alive = self._parser.should_keep_alive()

    # --- the exchange ----------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def start(self, request: bytes) -> None:
        """Send ``request`` (head and body) and reset the reply state."""
        self.chunks = []
        self.status = 0
        self.content_type = ""
        self.headers_done = self.finished = self.keep_alive = self._delimited = False
        self.error = None
        if self.transport is None:
            self.error = ConnectionResetError("the upstream closed the connection")
            return
        self.transport.write(request)

    async def wait(self) -> None:
        """Until the next read of the socket (or the connection's end)."""
        if self.error is not None or self.finished:
            return
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    def next_read(self) -> asyncio.Future[None]:
        """A future done at the next read of the socket (or the connection's end): what
        :meth:`wait` awaits, without a coroutine of its own to start per chunk of a stream.
        Only while the reply is in progress (neither ``finished`` nor ``error``)."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = self._loop.create_future()
        return waiter

    def take(self) -> bytes:
        """The body bytes that arrived since the last call."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        return data

    def close(self) -> None:
        """Drop the connection; a reply still in progress ends with an error."""
        if not self.finished and self.error is None:
            self.error = ConnectionAbortedError("the connection was closed")
        if self.transport is not None:
            self.transport.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class ConnectionPool:
    """Idle keep-alive connections to one ``host:port``.

    No cap on open connections: concurrency toward an upstream is the admission stage's to
    limit, and a connection is only opened when no idle one is left. The most recently used
    idle connection is taken first, so after a burst the surplus stays idle and is closed once
    idle for ``idle_s`` (checked as connections are released: no timer).
    """

    __slots__ = ("_host", "_idle", "_idle_s", "_port", "_ssl")

    def __init__(
        self, host: str, port: int, *, ssl: SSLContext | None = None, idle_s: float = 15.0
    ) -> None:
        self._host = host
        self._port = port
        self._ssl = ssl
        self._idle_s = idle_s
        # (connection, monotonic time it went idle), oldest on the left.
        self._idle: deque[tuple[UpstreamConnection, float]] = deque()

    async def connect(self) -> UpstreamConnection:
        """An idle connection the upstream has not closed, else a new one."""
        idle = self._idle
        while idle:
            connection, _ = idle.pop()
            if connection.reusable:
                return connection
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: UpstreamConnection(loop), self._host, self._port, ssl=self._ssl
        )
        return connection

    def release(self, connection: UpstreamConnection) -> None:
        """Keep ``connection`` for the next call if its reply ended cleanly, else close it."""
        if not (connection.finished and connection.keep_alive and connection.reusable):
            connection.close()
            return
        now_s = time.monotonic()
        idle = self._idle
        while idle and idle[0][1] < now_s - self._idle_s:
            idle.popleft()[0].close()
        idle.append((connection, now_s))

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()
