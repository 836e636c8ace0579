from typing import Any

import orjson
import pytest

from slokit.emulate.openai import Generation, parse_generation

SYSTEM = {"role": "system", "content": "You answer in one line."}


def chat(*messages: dict[str, Any]) -> Generation:
    return parse_generation("chat", orjson.dumps({"model": "m", "messages": list(messages)}))


def completion(prompt: Any) -> Generation:
    return parse_generation("completions", orjson.dumps({"model": "m", "prompt": prompt}))


def test_leading_system_messages_are_the_shared_prefix() -> None:
    first = chat(SYSTEM, {"role": "user", "content": "what is two plus two"})
    second = chat(SYSTEM, {"role": "user", "content": "and three"})
    assert first.prefix_group is not None
    assert first.prefix_group == second.prefix_group
    assert first.prefix_tokens == 5
    assert first.prompt_tokens == 10


def test_developer_messages_and_text_parts_count_too() -> None:
    parts = {"role": "developer", "content": [{"type": "text", "text": "be brief"}]}
    generation = chat(SYSTEM, parts, {"role": "user", "content": "hi"})
    assert generation.prefix_tokens == 7
    assert generation.prefix_group != chat(SYSTEM, {"role": "user", "content": "hi"}).prefix_group


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "no system prompt"}],
        [{"role": "user", "content": "first"}, SYSTEM],
        [{"role": "system", "content": ""}, {"role": "user", "content": "empty"}],
    ],
)
def test_no_leading_system_text_means_no_prefix(messages: list[dict[str, Any]]) -> None:
    generation = chat(*messages)
    assert (generation.prefix_group, generation.prefix_tokens) == (None, 0)


def test_a_text_prompt_shares_its_first_paragraph() -> None:
    first = completion("Context shared by all\n\nQuestion one")
    second = completion(["Context shared by all\n\nQuestion two is longer"])
    assert first.prefix_group == second.prefix_group
    assert first.prefix_tokens == 4
    for alone in ("One paragraph only", "Trailing break\n\n  ", [1, 2, 3]):
        assert completion(alone).prefix_group is None


def test_the_user_field_is_kept() -> None:
    body = {"model": "m", "prompt": "x", "user": "request-7"}
    assert parse_generation("completions", orjson.dumps(body)).user == "request-7"
    assert completion("x").user is None
