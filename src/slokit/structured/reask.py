"""The re-ask policy: when the CPU cannot fix a reply, ask the model again, quoting the error.

Sans-I/O: :class:`ReaskSession` says which messages to send next and takes the replies; the
drivers :func:`reask` and :func:`reask_async` run it with any callable that performs a model
call, so the gateway, a benchmark and a test share the same policy. Attempts and tokens are
counted against a budget and reported.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from slokit.errors import ConfigError
from slokit.structured.parser import StructuredParser
from slokit.structured.result import Action, ParseResult

Message = Mapping[str, str]
"""An OpenAI chat message: ``{"role": ..., "content": ...}``."""

_MAX_SCHEMA_CHARS: Final = 2000


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReply:
    """What one model call returned, with its token usage."""

    text: str
    prompt_tokens: int
    completion_tokens: int


ModelCall = Callable[[Sequence[Message], int], ModelReply]
"""``call(messages, max_tokens) -> ModelReply``, blocking."""
AsyncModelCall = Callable[[Sequence[Message], int], Awaitable[ModelReply]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaskConfig:
    """The budget of follow-up calls for one request.

    ``max_attempts`` follow-up calls at most; ``max_total_tokens`` prompt plus completion
    tokens over all of them (no attempt starts once it is spent, and each one's completion is
    capped by what is left); ``max_completion_tokens`` per attempt; ``include_schema`` quotes
    the schema (up to 2,000 characters) in the follow-up message.
    """

    max_attempts: int = 1
    max_total_tokens: int = 4096
    max_completion_tokens: int = 512
    include_schema: bool = True

    def __post_init__(self) -> None:
        for name in ("max_attempts", "max_total_tokens", "max_completion_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")


DEFAULT_REASK_CONFIG: Final = ReaskConfig()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaskOutcome:
    """The final parse and what the re-asks cost."""

    result: ParseResult
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    stopped_by: str
    """``valid`` (a reply validated), ``attempts`` or ``tokens`` (budget spent), ``not_needed``."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ReaskSession:
    """One request's re-ask loop as a state machine: ``next_messages`` then ``record``."""

    parser: StructuredParser
    messages: Sequence[Message]
    first_reply: str
    config: ReaskConfig = DEFAULT_REASK_CONFIG
    result: ParseResult = field(init=False)
    attempts: int = field(init=False, default=0)
    prompt_tokens: int = field(init=False, default=0)
    completion_tokens: int = field(init=False, default=0)
    _history: list[Message] = field(init=False)
    _last_reply: str = field(init=False)

    def __post_init__(self) -> None:
        self.result = self.parser.parse(self.first_reply)
        self._history = list(self.messages)
        self._last_reply = self.first_reply

    @property
    def remaining_tokens(self) -> int:
        return self.config.max_total_tokens - self.prompt_tokens - self.completion_tokens

    @property
    def stopped_by(self) -> str:
        if self.result.ok:
            return "valid" if self.attempts else "not_needed"
        if self.attempts >= self.config.max_attempts:
            return "attempts"
        return "tokens" if self.remaining_tokens <= 0 else ""

    def next_messages(self) -> tuple[list[Message], int] | None:
        """The messages and max_tokens of the next call, or None when the loop is over."""
        if self.stopped_by:
            return None
        follow_up = [
            *self._history,
            {"role": "assistant", "content": self._last_reply},
            {"role": "user", "content": self.follow_up_text()},
        ]
        return follow_up, min(self.config.max_completion_tokens, self.remaining_tokens)

    def follow_up_text(self) -> str:
        """The user message that asks for a corrected reply, quoting what was wrong."""
        problems = "\n".join(f"- {error}" for error in self.result.errors) or "- not valid JSON"
        text = f"Your reply could not be used:\n{problems}\n"
        schema = self.parser.schema
        if self.config.include_schema and schema is not None:
            dumped = json.dumps(schema, separators=(",", ":"))
            if len(dumped) <= _MAX_SCHEMA_CHARS:
                text += f"It must be JSON matching this JSON Schema: {dumped}\n"
        return text + "Reply with the corrected JSON only, no other text."

    def record(self, reply: ModelReply) -> ParseResult:
        """Count one call's tokens and parse its reply; returns the session's result."""
        self.attempts += 1
        self.prompt_tokens += max(0, reply.prompt_tokens)
        self.completion_tokens += max(0, reply.completion_tokens)
        parsed = self.parser.parse(reply.text)
        if parsed.ok:
            self.result = ParseResult(
                ok=True,
                value=parsed.value,
                action=Action.REASKED,
                coercions=parsed.coercions,
            )
        else:
            self.result = parsed
            self._last_reply = reply.text
        return self.result

    def outcome(self) -> ReaskOutcome:
        return ReaskOutcome(
            result=self.result,
            attempts=self.attempts,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            stopped_by=self.stopped_by or "attempts",
        )


def reask(
    parser: StructuredParser,
    messages: Sequence[Message],
    first_reply: str,
    call: ModelCall,
    config: ReaskConfig = DEFAULT_REASK_CONFIG,
) -> ReaskOutcome:
    """Parse ``first_reply``; while it fails and the budget allows, re-ask through ``call``."""
    session = ReaskSession(parser, messages, first_reply, config)
    while (step := session.next_messages()) is not None:
        session.record(call(*step))
    return session.outcome()


async def reask_async(
    parser: StructuredParser,
    messages: Sequence[Message],
    first_reply: str,
    call: AsyncModelCall,
    config: ReaskConfig = DEFAULT_REASK_CONFIG,
) -> ReaskOutcome:
    """:func:`reask` for an asynchronous ``call`` (the gateway's)."""
    session = ReaskSession(parser, messages, first_reply, config)
    while (step := session.next_messages()) is not None:
        session.record(await call(*step))
    return session.outcome()
