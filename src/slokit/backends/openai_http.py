"""An OpenAI-compatible upstream over HTTP (vLLM, SGLang, llama.cpp, Ollama, OpenAI).

Each replica keeps its own pool of keep-alive HTTP/1.1 connections
(:mod:`slokit.backends.http1`), which replaced a pooled aiohttp session. Measured on the
emulator, one request at a time, gateway on uvloop, CPU from /proc on a shared 2-core machine:
a non-streamed request cost the gateway 0.33-0.38 ms over aiohttp and 0.16-0.18 ms this way;
for streams see :mod:`slokit.backends.http1` (aiohttp's per-chunk reading cost twice a bare
protocol's). aiohttp had itself replaced httpx (0.60 ms of client CPU per request against
0.17 ms).

Timeouts are split the way streams fail: ``connect_s`` to open a connection, ``first_token_s``
from sending to the first body bytes of a stream (or the whole reply of a non-stream, bounded
by ``total_s``), ``inter_chunk_s`` between two chunks, and ``total_s`` for the whole exchange.
Everything before the first byte raises an :class:`UpstreamError` the caller may retry
elsewhere; a failure after it ends the stream with the same errors.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from slokit.backends.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from slokit.backends.http1 import ConnectionPool, UpstreamConnection
from slokit.errors import ConfigError

_JSON = "application/json"
# Upstream statuses the client caused: passed through as they are.
_CLIENT_STATUSES = frozenset({400, 404, 413, 422})


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Deadlines of one upstream exchange, in seconds."""

    connect_s: float = 5.0
    first_token_s: float = 60.0
    inter_chunk_s: float = 30.0
    total_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "first_token_s", "inter_chunk_s", "total_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"timeouts.{name[:-2]} must be > 0 s, got {getattr(self, name)}")


class UpstreamReply:
    """An upstream's answer: status and, for streams, the body as it arrives.

    ``body`` is the whole body of a non-streamed reply or the first chunk of a stream;
    iterate :meth:`chunks` for the rest. :meth:`close` releases the connection early (the
    client went away); it is safe to call more than once.
    """

    __slots__ = (
        "_aborted", "_connection", "_pool", "_watchdog", "body", "content_type", "status",
    )  # fmt: skip

    def __init__(
        self,
        *,
        status: int,
        content_type: str,
        body: bytes,
        connection: UpstreamConnection | None = None,
        pool: ConnectionPool | None = None,
        watchdog: _StreamWatchdog | None = None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self._connection = connection
        self._pool = pool
        self._watchdog = watchdog
        self._aborted = False

    @property
    def streaming(self) -> bool:
        return self._connection is not None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The stream's chunks after ``body``, as they arrive; raises on a stall or deadline.

        Each chunk is whatever one read of the socket brought (one SSE event or several), so
        nothing waits for a line or a size. After :meth:`close` the iteration ends quietly:
        the client left, the upstream did not fail.
        """
        connection, pool, watchdog = self._connection, self._pool, self._watchdog
        if connection is None or pool is None or watchdog is None:
            return
        loop_time = watchdog.loop.time
        try:
            while True:
                if connection.chunks:
                    # One clock read per chunk; the watchdog's single timer does the rest.
                    watchdog.last_chunk_s = loop_time()
                    yield connection.take()
                elif connection.finished:
                    return
                elif connection.error is not None:
                    if self._aborted:
                        return
                    raise watchdog.failure(connection.error)
                else:
                    await connection.next_read()
        finally:
            watchdog.cancel()
            pool.release(connection)  # kept alive only after a whole reply

    def close(self) -> None:
        """Drop the upstream connection now (the client went away)."""
        self._aborted = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._connection is not None:
            self._connection.close()


class _StreamWatchdog:
    """Enforces inter-chunk and total deadlines with one timer per stream.

    Each chunk only notes its arrival time; the timer, when it fires, re-arms itself at the
    later deadline if a chunk came meanwhile, so the per-chunk cost is one clock read.
    """

    __slots__ = (
        "_connection",
        "_handle",
        "deadline_s",
        "gap_s",
        "last_chunk_s",
        "loop",
        "reason",
        "replica",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: UpstreamConnection,
        *,
        replica: str,
        gap_s: float,
        deadline_s: float,
    ) -> None:
        self.loop = loop
        self.replica = replica
        self._connection = connection
        self.gap_s = gap_s
        self.deadline_s = deadline_s
        self.last_chunk_s = loop.time()
        self.reason: str | None = None
        self._handle: asyncio.TimerHandle | None = loop.call_at(self._next_check(), self._check)

    def _next_check(self) -> float:
        return min(self.last_chunk_s + self.gap_s, self.deadline_s)

    def _check(self) -> None:
        now = self.loop.time()
        if now >= self.deadline_s:
            self.reason = "the total deadline passed"
        elif now >= self.last_chunk_s + self.gap_s:
            self.reason = f"no chunk for {self.gap_s:g} s"
        else:
            self._handle = self.loop.call_at(self._next_check(), self._check)
            return
        self._handle = None
        self._connection.close()  # wakes the reader with a connection error

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def failure(self, error: BaseException) -> UpstreamError:
        replica = self.replica
        if self.reason is not None:
            return UpstreamTimeoutError(
                f"upstream stream stalled: {self.reason}", replica=replica, sent=True
            )
        return UpstreamError(
            f"upstream stream broke: {type(error).__name__}", replica=replica, sent=True
        )


class OpenAIHttpBackend:
    """One replica of an OpenAI-compatible server at ``base_url`` (ending in ``/v1``).

    Calls go over this replica's keep-alive pool; :meth:`close` shuts its idle connections.
    ``api_key`` is sent as a bearer token and never appears in errors or replies.
    """

    __slots__ = (
        "_head_tail", "_heads", "_path_prefix", "_pool", "_timeouts", "name",
    )  # fmt: skip

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.name = name
        self._timeouts = timeouts or Timeouts()
        headers = {"Content-Type": _JSON}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        url = urlsplit(base_url.rstrip("/"))
        secure = url.scheme == "https"
        host = url.hostname or "localhost"
        self._pool = ConnectionPool(
            host,
            url.port or (443 if secure else 80),
            ssl=ssl.create_default_context() if secure else None,
        )
        # The request head up to Content-Length, made once per path: a request is then one
        # bytes formatting and one write.
        lines = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
        self._path_prefix = url.path
        self._head_tail = f" HTTP/1.1\r\nHost: {url.netloc}\r\n{lines}"
        self._heads: dict[str, bytes] = {}

    def close(self) -> None:
        """Close the idle connections (calls in flight close theirs when they end)."""
        self._pool.close()

    async def send(self, path: str, body: bytes, *, stream: bool) -> UpstreamReply:
        """POST ``body`` to ``base_url + path``; return once the first bytes are in (a stream)
        or the whole reply (otherwise)."""
        loop = asyncio.get_running_loop()
        timeouts = self._timeouts
        start_s = loop.time()
        deadline_s = start_s + timeouts.total_s
        first_deadline_s = (
            min(start_s + timeouts.first_token_s, deadline_s) if stream else deadline_s
        )
        head = self._heads.get(path)
        if head is None:
            head = self._heads[path] = f"POST {self._path_prefix}{path}{self._head_tail}".encode()
        request = b"%bContent-Length: %d\r\n\r\n%b" % (head, len(body), body)
        pool = self._pool
        try:
            async with asyncio.timeout_at(first_deadline_s):
                connection = await self._first_bytes(pool, request)
                try:
                    status = connection.status
                    content_type = connection.content_type or _JSON
                    if status >= 300 or not stream:
                        payload = await self._whole_body(connection)
                        pool.release(connection)
                        return self._finished(status, content_type, payload)
                except BaseException:
                    connection.close()
                    raise
        except TimeoutError:
            what = "first token" if stream else "reply"
            raise self._timed_out(what, first_deadline_s - start_s) from None
        watchdog = _StreamWatchdog(
            loop, connection, replica=self.name, gap_s=timeouts.inter_chunk_s,
            deadline_s=deadline_s,
        )  # fmt: skip
        return UpstreamReply(
            status=status, content_type=content_type, body=connection.take(),
            connection=connection, pool=pool, watchdog=watchdog,
        )  # fmt: skip

    async def _whole_body(self, connection: UpstreamConnection) -> bytes:
        while not (connection.finished or connection.error):
            await connection.wait()
        if connection.error is not None:
            raise self._broke(connection.error)
        return connection.take()

    async def _first_bytes(self, pool: ConnectionPool, request: bytes) -> UpstreamConnection:
        """A connection that sent ``request`` and holds the reply's first body bytes.

        A failed request is not sent again here, even on a kept-alive connection that turns
        out closed (as aiohttp does for POST): the upstream may have acted on it, and the
        backend stage's retry budget decides.
        """
        try:
            async with asyncio.timeout(self._timeouts.connect_s):
                connection = await pool.connect()
        except OSError as error:
            raise self._unreachable(error) from None
        try:
            connection.start(request)
            while not (connection.chunks or connection.finished or connection.error):
                await connection.wait()
        except BaseException:
            connection.close()
            raise
        if connection.error is not None:
            connection.close()
            raise self._broke(connection.error)
        return connection

    def _timed_out(self, what: str, within_s: float) -> UpstreamTimeoutError:
        return UpstreamTimeoutError(
            f"upstream {self.name} gave no {what} within {within_s:g} s",
            replica=self.name,
            sent=True,
        )

    def _unreachable(self, error: BaseException) -> UpstreamUnavailableError:
        return UpstreamUnavailableError(
            f"upstream {self.name} is unreachable ({type(error).__name__})",
            replica=self.name,
            sent=False,
        )

    def _broke(self, error: BaseException) -> UpstreamError:
        return UpstreamError(
            f"upstream {self.name} failed: {type(error).__name__}", replica=self.name, sent=True
        )

    def _finished(self, status: int, content_type: str, payload: bytes) -> UpstreamReply:
        if status < 300 or status in _CLIENT_STATUSES:
            return UpstreamReply(status=status, content_type=content_type, body=payload)
        if status in (401, 403):
            # The gateway's own credentials were refused: the client must not take it for theirs.
            raise UpstreamError(
                f"upstream {self.name} refused the gateway's credentials (HTTP {status}); "
                "check the backend's api_key_env",
                replica=self.name,
                sent=True,
            )
        raise UpstreamError(
            f"upstream {self.name} answered HTTP {status}",
            replica=self.name,
            sent=True,
            retryable=status == 429 or status >= 500,
        )
