"""What the cache keys on: a chat request, its canonical exact key and its semantic scope."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from slokit.errors import ConfigError

Message = Mapping[str, Any]

# Parameters that change how a reply is delivered or billed, never what it says; every other
# parameter (tools, response_format, seed, max_tokens, stop, ...) is part of the key.
DELIVERY_PARAMETERS: frozenset[str] = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "timeout",
        "extra_headers",
        "extra_query",
        "extra_body",
        "parallel_tool_calls_hint",
    }
)

# OpenAI's documented default: a request without a temperature is sampled at 1.
DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheRequest:
    """One chat completion request as the cache sees it.

    ``parameters`` are the request's other body fields (``temperature``, ``max_tokens``,
    ``tools``...). ``allow_sampled`` is the request's opt-in to caching a sampled reply
    (temperature > 0 or n > 1), which is otherwise never stored nor served from the cache.
    """

    tenant: str
    model: str
    messages: tuple[Message, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    allow_sampled: bool = False

    def __post_init__(self) -> None:
        if not self.tenant:
            raise ConfigError("tenant must be a non-empty string (use one name per tenant)")
        if not self.model:
            raise ConfigError("model must be a non-empty string")
        if not self.messages:
            raise ConfigError("messages must hold at least one message")

    @classmethod
    def from_openai(
        cls,
        *,
        tenant: str,
        model: str,
        messages: Sequence[Message],
        allow_sampled: bool = False,
        **parameters: Any,
    ) -> CacheRequest:
        """The keyword arguments of ``client.chat.completions.create(...)``, plus a tenant."""
        return cls(
            tenant=tenant,
            model=model,
            messages=tuple(messages),
            parameters=parameters,
            allow_sampled=allow_sampled,
        )

    @property
    def sampled(self) -> bool:
        """Whether two identical calls may get different replies (temperature > 0 or n > 1)."""
        temperature = self.parameters.get("temperature")
        temperature = DEFAULT_TEMPERATURE if temperature is None else float(temperature)
        choices = int(self.parameters.get("n") or 1)
        return temperature > 0 or choices > 1 or math.isnan(temperature)

    @property
    def output_parameters(self) -> dict[str, Any]:
        """The parameters that can change the reply."""
        return {
            name: value
            for name, value in self.parameters.items()
            if name not in DELIVERY_PARAMETERS and value is not None
        }

    def exact_key(self) -> str:
        """SHA-256 of the canonical JSON of tenant, model, messages and output parameters."""
        return _digest(
            {
                "tenant": self.tenant,
                "model": self.model,
                "messages": list(self.messages),
                "parameters": self.output_parameters,
            }
        )

    def semantic_scope(self) -> str | None:
        """The namespace a semantic match must share, or None when there is no user turn.

        Tenant, model, output parameters, the system prompts and a hash of every turn before
        the last user message: a match never crosses tenants, models or conversations.
        """
        last_user = _last_user_index(self.messages)
        if last_user is None:
            return None
        earlier = self.messages[:last_user]
        system = [m for m in earlier if m.get("role") in {"system", "developer"}]
        turns = [m for m in earlier if m.get("role") not in {"system", "developer"}]
        return _digest(
            {
                "tenant": self.tenant,
                "model": self.model,
                "parameters": self.output_parameters,
                "system": system,
                "earlier_turns": _digest(turns),
                # Whatever follows the last user turn (e.g. a prefilled assistant) is context too.
                "after": list(self.messages[last_user + 1 :]),
            }
        )

    def semantic_text(self) -> str | None:
        """The text of the last user turn, the part that is embedded; None if it has none."""
        last_user = _last_user_index(self.messages)
        if last_user is None:
            return None
        return message_text(self.messages[last_user])


def message_text(message: Message) -> str | None:
    """A message's text: its string content, or its text parts joined; None for other parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                return None  # images, audio, files: no semantic match on a partial view
            texts.append(str(part.get("text", "")))
        return "\n".join(texts)
    return None


def _last_user_index(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index if message_text(messages[index]) is not None else None
    return None


def _digest(value: object) -> str:
    try:
        canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError as error:
        raise ConfigError(f"a cached request must be JSON-serialisable: {error}") from error
    return hashlib.sha256(canonical).hexdigest()
