"""Exact keys and semantic scopes of requests."""

from __future__ import annotations

import pytest

from slokit.cache import CacheRequest
from slokit.errors import ConfigError


def ask(
    text: str, *, tenant: str = "acme", system: str = "Be brief.", **parameters: object
) -> CacheRequest:
    return CacheRequest.from_openai(
        tenant=tenant,
        model="m",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
        **{"temperature": 0, **parameters},
    )


def test_exact_key_is_canonical_in_key_order_and_ignores_delivery_parameters() -> None:
    first = ask("hi", max_tokens=5, stream=True, user="u1")
    second = CacheRequest.from_openai(
        tenant="acme",
        model="m",
        messages=[{"content": "Be brief.", "role": "system"}, {"content": "hi", "role": "user"}],
        max_tokens=5,
        temperature=0,
    )
    assert first.exact_key() == second.exact_key()


@pytest.mark.parametrize(
    "other",
    [
        ask("hi", tenant="globex"),
        ask("hi", max_tokens=6),
        ask("hi", response_format={"type": "json_object"}),
        ask("hi", system="Be verbose."),
        ask("hello"),
    ],
)
def test_exact_key_changes_with_anything_that_changes_the_reply(other: CacheRequest) -> None:
    assert ask("hi", max_tokens=5).exact_key() != other.exact_key()


def test_scope_separates_tenants_models_system_prompts_and_earlier_turns() -> None:
    base = ask("What is light?")
    assert base.semantic_scope() == ask("How is light made?").semantic_scope()
    assert base.semantic_scope() != ask("What is light?", tenant="globex").semantic_scope()
    assert base.semantic_scope() != ask("What is light?", system="Be verbose.").semantic_scope()
    later = CacheRequest.from_openai(
        tenant="acme",
        model="m",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Tell me about optics."},
            {"role": "assistant", "content": "Optics studies light."},
            {"role": "user", "content": "What is light?"},
        ],
        temperature=0,
    )
    assert later.semantic_text() == "What is light?"
    assert later.semantic_scope() != base.semantic_scope()


def test_semantic_text_is_the_last_user_turn_and_none_for_non_text_parts() -> None:
    parts = CacheRequest.from_openai(
        tenant="t",
        model="m",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ],
    )
    assert parts.semantic_text() == "a\nb"
    image = CacheRequest.from_openai(
        tenant="t",
        model="m",
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
    )
    assert image.semantic_text() is None
    assert image.semantic_scope() is None


@pytest.mark.parametrize(
    ("parameters", "sampled"),
    [
        ({}, True),
        ({"temperature": 0}, False),
        ({"temperature": 0.7}, True),
        ({"temperature": 0, "n": 2}, True),
    ],
)
def test_sampled_means_temperature_above_zero_or_several_choices(
    parameters: dict[str, object], sampled: bool
) -> None:
    request = CacheRequest.from_openai(
        tenant="t", model="m", messages=[{"role": "user", "content": "x"}], **parameters
    )
    assert request.sampled is sampled


def test_request_needs_tenant_model_and_messages() -> None:
    with pytest.raises(ConfigError, match="tenant"):
        CacheRequest(tenant="", model="m", messages=({"role": "user", "content": "x"},))
    with pytest.raises(ConfigError, match="messages"):
        CacheRequest(tenant="t", model="m", messages=())
