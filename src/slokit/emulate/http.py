"""A small HTTP/1.1 server protocol: keep-alive, pipelining, chunked streaming.

Why hand-written rather than ``aiohttp.web``: the emulator's work per token is one timer
callback and one socket write. Here the callback writes to the transport directly; through
``aiohttp.web`` every token also costs a future, a task wake-up and an awaited ``write``.
Measured with both servers on uvloop, keep-alive, 32 connections, 8-token replies at zero delay,
server CPU per request: non-streamed 32 us here vs 89 us with aiohttp.web (31,000 vs 11,000
requests/s per core); streamed 95 us vs 227 us (10,600 vs 4,400 requests/s per core). The
emulator shares small machines with the load generator it serves, so the ~2.5x matters.

It implements what OpenAI clients send: ``Content-Length`` or chunked request bodies,
``Expect: 100-continue``, ``Connection: close``, pipelining, HTTP/1.0 and 1.1.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import cast

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024

_REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}


class HttpRequest:
    """One parsed request. Header names are lower-case; ``path`` excludes the query string.

    ``received_s`` is the ``time.monotonic()`` instant its last bytes arrived, taken before
    any parsing so that the time spent parsing counts as the server's, not the network's.
    """

    __slots__ = ("body", "headers", "method", "path", "received_s")

    def __init__(
        self,
        method: str,
        path: str,
        headers: dict[bytes, bytes],
        body: bytes,
        received_s: float,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.received_s = received_s


class HttpError(Exception):
    """A request that cannot be parsed; answered with ``status`` and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: Handles one request by calling ``respond`` or ``start_stream``/``write``/``end`` on the
#: connection, now or later (from a timer).
Handler = Callable[[HttpRequest, "HttpConnection"], None]
#: Builds the body of an error response for a request that could not be parsed.
ErrorBody = Callable[[int, str], bytes]


class HttpConnection(asyncio.Protocol):
    """One client connection; it serves its requests one at a time, in order."""

    __slots__ = (
        "_buffer",
        "_busy",
        "_chunked",
        "_error_body",
        "_handler",
        "_keep_alive",
        "_received_s",
        "_registry",
        "_transport",
        "on_abort",
    )

    def __init__(
        self,
        handler: Handler,
        error_body: ErrorBody,
        registry: set[HttpConnection] | None = None,
    ) -> None:
        self._handler = handler
        self._registry = registry
        self._error_body = error_body
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._busy = False
        self._received_s = 0.0
        self._keep_alive = True
        self._chunked = True
        #: Called once if the client goes away before the current response has ended.
        self.on_abort: Callable[[], None] | None = None

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def close(self) -> None:
        """Close the connection, whatever it is doing."""
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP server hands over a full transport (uvloop's is not an asyncio.Transport subclass).
        self._transport = cast("asyncio.Transport", transport)
        if self._registry is not None:
            self._registry.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Tokens are small writes that must leave at once, not wait for Nagle.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._received_s = time.monotonic()
        self._buffer += data
        if not self._busy:
            self._serve_buffered()
        elif len(self._buffer) > MAX_HEAD_BYTES and self._transport is not None:
            self._transport.pause_reading()  # a pipelining client ran far ahead

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002  (any cause: abort)
        self._transport = None
        if self._registry is not None:
            self._registry.discard(self)
        abort, self.on_abort = self.on_abort, None
        if abort is not None:
            abort()

    # responding

    def respond(self, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
        """Send a complete response."""
        transport = self._transport
        if transport is None:
            return
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            status,
            _REASONS.get(status, "Unknown").encode(),
            content_type,
            len(body),
            b"" if self._keep_alive else b"Connection: close\r\n",
        )
        transport.write(head + body)
        self._finish()

    def start_stream(self, status: int = 200, content_type: bytes = b"text/event-stream") -> None:
        """Send the head of a streamed response; ``write`` and ``end`` follow."""
        transport = self._transport
        if transport is None:
            return
        framing = b"Transfer-Encoding: chunked\r\n" if self._chunked else b""
        if not self._chunked:
            self._keep_alive = False  # only closing the connection can end this stream
        transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n%s%s\r\n"
            % (
                status,
                _REASONS.get(status, "Unknown").encode(),
                content_type,
                framing,
                b"" if self._keep_alive else b"Connection: close\r\n",
            )
        )

    def write(self, data: bytes) -> None:
        """Send part of a streamed response."""
        transport = self._transport
        if transport is None or not data:
            return
        if self._chunked:
            transport.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            transport.write(data)

    def end(self, data: bytes = b"") -> None:
        """Send the last part of a streamed response and end it."""
        transport = self._transport
        if transport is None:
            return
        if self._chunked:
            tail = b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n"
            transport.write(tail)
        elif data:
            transport.write(data)
        self._finish()

    # internals

    def _finish(self) -> None:
        self.on_abort = None
        self._busy = False
        transport = self._transport
        if transport is None:
            return
        if not self._keep_alive:
            transport.close()
            return
        transport.resume_reading()
        if self._buffer:
            self._serve_buffered()

    def _serve_buffered(self) -> None:
        while not self._busy and self._transport is not None:
            try:
                request = self._parse()
            except HttpError as error:
                self._keep_alive = False
                self._buffer = b""
                self._busy = True
                self.respond(error.status, self._error_body(error.status, str(error)))
                return
            if request is None:
                return
            self._busy = True
            self._handler(request, self)

    def _parse(self) -> HttpRequest | None:
        buffer = self._buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise HttpError(431, "request head too large")
            return None
        lines = buffer[:head_end].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise HttpError(400, "malformed request line")
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise HttpError(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
        body_start = head_end + 4
        parsed = self._parse_body(headers, buffer, body_start)
        if parsed is None:
            expects = headers.get(b"expect", b"").lower() == b"100-continue"
            # Say it once, before any of the body has arrived.
            if expects and len(buffer) == body_start and self._transport is not None:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return None
        body, end = parsed
        self._buffer = buffer[end:]
        http10 = parts[2] == b"HTTP/1.0"
        connection = headers.get(b"connection", b"").lower()
        self._keep_alive = connection == b"keep-alive" if http10 else connection != b"close"
        # HTTP/1.0 has no chunked framing: a stream is ended by closing the connection.
        self._chunked = not http10
        path = parts[1].split(b"?", 1)[0].decode("latin-1")
        method = parts[0].decode("latin-1")
        return HttpRequest(method, path, headers, body, self._received_s)

    @staticmethod
    def _parse_body(
        headers: dict[bytes, bytes], buffer: bytes, start: int
    ) -> tuple[bytes, int] | None:
        encoding = headers.get(b"transfer-encoding")
        if encoding is not None:
            if encoding.lower() != b"chunked":
                raise HttpError(501, "only chunked transfer encoding is supported")
            return _parse_chunked(buffer, start)
        length_text = headers.get(b"content-length", b"0")
        if not length_text.isdigit():
            raise HttpError(400, "malformed Content-Length")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise HttpError(413, "request body too large")
        end = start + length
        return (buffer[start:end], end) if len(buffer) >= end else None


def _parse_chunked(buffer: bytes, position: int) -> tuple[bytes, int] | None:
    """The decoded body and the end offset of a chunked body, or ``None`` while incomplete."""
    pieces: list[bytes] = []
    total = 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size_text = buffer[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(400, "malformed chunk size") from None
        if size == 0:
            position = line_end + 2
            while True:  # optional trailer fields, then an empty line
                field_end = buffer.find(b"\r\n", position)
                if field_end < 0:
                    return None
                if field_end == position:
                    return b"".join(pieces), position + 2
                position = field_end + 2
        total += size
        if total > MAX_BODY_BYTES:
            raise HttpError(413, "request body too large")
        data_end = line_end + 2 + size
        if len(buffer) < data_end + 2:
            return None
        pieces.append(buffer[line_end + 2 : data_end])
        position = data_end + 2
