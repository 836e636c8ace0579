"""A byte relay: the floor under any user-space HTTP proxy's cost per request and per chunk.

Each accepted connection gets its own connection to the upstream; bytes are copied both ways
as they arrive, with no HTTP parsing, no buffering and TCP_NODELAY on both sides (uvloop).
What such a relay costs per streamed chunk is what one wake-up, one read and one write on
loopback cost on this machine: no proxy that forwards each chunk as it comes can cost less.

    python benchmarks/tcp_relay.py PORT UPSTREAM_HOST UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import socket
import sys

import uvloop


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Upstream(asyncio.Protocol):
    def __init__(self, client: _Client) -> None:
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _no_delay(transport)

    def data_received(self, data: bytes) -> None:
        self._client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self._client.close()


class _Client(asyncio.Protocol):
    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._transport: asyncio.Transport | None = None
        self._to_upstream: asyncio.Transport | None = None
        self._pending: list[bytes] = []
        self._connecting: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's, not a subclass
        _no_delay(transport)
        self._connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: _Upstream(self), *self._upstream)
        except OSError:
            self.close()
            return
        self._to_upstream = transport
        for data in self._pending:
            transport.write(data)
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        if self._to_upstream is None:
            self._pending.append(data)
        else:
            self._to_upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        if self._to_upstream is not None:
            self._to_upstream.close()

    def write(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _serve(port: int, upstream: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(upstream), "127.0.0.1", port)
    await server.serve_forever()


def main() -> None:
    port, host, upstream_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    uvloop.run(_serve(port, (host, upstream_port)))


if __name__ == "__main__":
    main()
