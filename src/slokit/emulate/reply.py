"""One completion reply in progress: the token sink an engine drives, writing to one connection."""

from __future__ import annotations

import time

from slokit.emulate.engine import Cancel
from slokit.emulate.http import HttpConnection
from slokit.emulate.openai import DONE_EVENT, ChunkFormat, Generation, full_reply
from slokit.emulate.stats import CANCELLED, COMPLETED, EmulatorStats, ReplyLog


class Reply:
    """Writes each token as the engine reports it (streamed) or the whole reply at the end.

    :meth:`open` sends the stream's head once the engine has taken the request; a client that
    goes away before the end cancels the request in the engine.
    """

    __slots__ = (
        "_arrival_s",
        "_cancel",
        "_connection",
        "_created",
        "_due_s",
        "_format",
        "_generation",
        "_index",
        "_log",
        "_reply_id",
        "_report_usage",
        "_stats",
        "_token_s",
    )

    def __init__(
        self,
        connection: HttpConnection,
        generation: Generation,
        *,
        reply_id: str,
        arrival_s: float,
        stats: EmulatorStats,
        log: ReplyLog | None,
        report_usage: bool,
    ) -> None:
        self._connection = connection
        self._generation = generation
        self._reply_id = reply_id
        self._arrival_s = arrival_s
        self._stats = stats
        self._log = log
        self._report_usage = report_usage
        self._created = int(time.time())
        self._index = 0
        self._cancel: Cancel | None = None
        self._due_s: list[float] | None = [] if log is not None else None
        self._token_s: list[float] | None = [] if log is not None else None
        self._format = (
            ChunkFormat(generation, reply_id=reply_id, created=self._created)
            if generation.stream
            else None
        )

    def open(self, cancel: Cancel) -> None:
        """The engine has the request: start the stream; ``cancel`` withdraws it on abort."""
        self._cancel = cancel
        self._connection.on_abort = self._abort
        if self._format is not None:
            self._connection.start_stream()
            if self._generation.kind == "chat":
                # Like vLLM, the role arrives at once; clients must not take it for a token.
                self._connection.write(self._format.role())

    def token(self, due_s: float, *, last: bool) -> None:
        index = self._index
        self._index = index + 1
        self._stats.tokens += 1
        if self._token_s is not None and self._due_s is not None:
            self._due_s.append(due_s)
            self._token_s.append(time.monotonic())
        if self._format is None:
            if last:
                self._end()
        elif last:
            self._end(self._format.token(index))
        else:
            self._connection.write(self._format.token(index))

    def _end(self, last_token: bytes = b"") -> None:
        generation = self._generation
        output_tokens = self._index
        limit = generation.max_tokens
        finish_reason = "length" if limit is not None and output_tokens >= limit else "stop"
        self._stats.in_flight -= 1
        self._record(COMPLETED)
        if self._format is None:
            body = full_reply(
                generation,
                reply_id=self._reply_id,
                created=self._created,
                output_tokens=output_tokens,
                finish_reason=finish_reason,
                report_usage=self._report_usage,
            )
            self._connection.respond(200, body)
            return
        tail = last_token + self._format.finish(finish_reason)
        if generation.include_usage and self._report_usage:
            tail += self._format.usage(generation.prompt_tokens, output_tokens)
        self._connection.end(tail + DONE_EVENT)

    def _abort(self) -> None:
        self._stats.in_flight -= 1
        self._stats.cancelled += 1
        self._record(CANCELLED)
        if self._cancel is not None:
            self._cancel()

    def _record(self, outcome: str) -> None:
        if self._log is not None and self._token_s is not None and self._due_s is not None:
            self._log.add(
                reply_id=self._reply_id,
                user=self._generation.user,
                arrival_s=self._arrival_s,
                due_s=self._due_s,
                token_s=self._token_s,
                outcome=outcome,
            )
