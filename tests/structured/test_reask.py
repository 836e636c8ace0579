"""The re-ask policy, driven by scripted model replies and, if present, the local model."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import urllib.request
from collections.abc import Sequence
from typing import Any

import pytest

from slokit.backends.local import LocalModelConfig, LocalModelServer
from slokit.errors import ConfigError
from slokit.structured import (
    Action,
    Message,
    ModelReply,
    ReaskConfig,
    ReaskSession,
    StructuredParser,
    reask,
    reask_async,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"age": {"type": "integer"}},
    "required": ["age"],
}
MESSAGES: list[Message] = [{"role": "user", "content": "How old? JSON please."}]


class Script:
    """A model that answers from a list, recording what it was sent."""

    def __init__(self, *texts: str, prompt_tokens: int = 50, completion_tokens: int = 10) -> None:
        self._texts = list(texts)
        self._usage = (prompt_tokens, completion_tokens)
        self.sent: list[tuple[list[Message], int]] = []

    def __call__(self, messages: Sequence[Message], max_tokens: int) -> ModelReply:
        self.sent.append((list(messages), max_tokens))
        return ModelReply(
            text=self._texts.pop(0),
            prompt_tokens=self._usage[0],
            completion_tokens=self._usage[1],
        )


def test_no_call_when_the_cpu_fixes_it() -> None:
    model = Script()
    outcome = reask(StructuredParser(SCHEMA), MESSAGES, '{"age": "4"}', model)
    assert outcome.result.action == Action.COERCED
    assert (outcome.attempts, outcome.total_tokens, outcome.stopped_by) == (0, 0, "not_needed")
    assert model.sent == []


def test_a_failed_reply_is_reasked_with_the_error_and_the_schema() -> None:
    model = Script('{"age": 4}')
    outcome = reask(StructuredParser(SCHEMA), MESSAGES, '{"age": "old"}', model)
    assert outcome.result.ok
    assert outcome.result.action == Action.REASKED
    assert outcome.result.value == {"age": 4}
    assert (outcome.attempts, outcome.prompt_tokens, outcome.completion_tokens) == (1, 50, 10)
    assert outcome.stopped_by == "valid"
    sent, max_tokens = model.sent[0]
    assert sent[0] == MESSAGES[0]
    assert sent[1] == {"role": "assistant", "content": '{"age": "old"}'}
    follow_up = sent[2]["content"]
    assert '- at $.age: "old" is not of type "integer"' in follow_up
    assert '"required":["age"]' in follow_up
    assert follow_up.endswith("Reply with the corrected JSON only, no other text.")
    assert max_tokens == ReaskConfig().max_completion_tokens


def test_attempts_are_capped_and_each_quotes_the_latest_reply() -> None:
    model = Script("still no", "nope", "never")
    config = ReaskConfig(max_attempts=2)
    outcome = reask(StructuredParser(SCHEMA), MESSAGES, "no", model, config)
    assert not outcome.result.ok
    assert outcome.result.action == Action.FAILED
    assert (outcome.attempts, outcome.stopped_by) == (2, "attempts")
    assert model.sent[1][0][-2]["content"] == "still no"


def test_the_token_budget_stops_the_loop_and_caps_max_tokens() -> None:
    model = Script("x", "y", "z", prompt_tokens=80, completion_tokens=20)
    config = ReaskConfig(max_attempts=5, max_total_tokens=150, max_completion_tokens=100)
    outcome = reask(StructuredParser(SCHEMA), MESSAGES, "no", model, config)
    assert (outcome.attempts, outcome.total_tokens, outcome.stopped_by) == (2, 200, "tokens")
    assert [max_tokens for _, max_tokens in model.sent] == [100, 50]


def test_the_schema_can_be_left_out_of_the_follow_up() -> None:
    session = ReaskSession(
        StructuredParser(SCHEMA), MESSAGES, "no", ReaskConfig(include_schema=False)
    )
    assert "Schema" not in session.follow_up_text()
    assert "the reply holds no JSON value" in session.follow_up_text()


def test_async_driver_matches_the_sync_one() -> None:
    script = Script("bad", '{"age": 9}')

    async def call(messages: Sequence[Message], max_tokens: int) -> ModelReply:
        return script(messages, max_tokens)

    config = ReaskConfig(max_attempts=3)
    outcome = asyncio.run(reask_async(StructuredParser(SCHEMA), MESSAGES, "?", call, config))
    assert (outcome.result.value, outcome.attempts, outcome.stopped_by) == ({"age": 9}, 2, "valid")


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="max_attempts"):
        ReaskConfig(max_attempts=0)


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="needs the local model (make local-model)"
)
def test_reask_against_the_local_model() -> None:
    """The follow-up message goes to a real model and its reply is parsed and counted."""
    with LocalModelServer(LocalModelConfig(threads=1)) as server:

        def call(messages: Sequence[Message], max_tokens: int) -> ModelReply:
            body = {
                "model": server.model,
                "messages": list(messages),
                "max_tokens": max_tokens,
                "temperature": 0,
            }
            request = urllib.request.Request(
                f"{server.base_url}/chat/completions",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                reply = json.loads(response.read())
            return ModelReply(
                text=reply["choices"][0]["message"]["content"] or "",
                prompt_tokens=reply["usage"]["prompt_tokens"],
                completion_tokens=reply["usage"]["completion_tokens"],
            )

        config = ReaskConfig(max_attempts=1, max_completion_tokens=48)
        outcome = reask(StructuredParser(SCHEMA), MESSAGES, "I am not sure.", call, config)
    assert outcome.attempts == 1
    assert outcome.prompt_tokens > 0
    assert 0 < outcome.completion_tokens <= 48
    assert outcome.result.action in (Action.REASKED, Action.FAILED)
