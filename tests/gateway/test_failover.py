"""Replica failover, circuit breaking and the retry budget, with real dead and failing upstreams."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from slokit.backends.local import free_port
from slokit.backends.resilience import BreakerConfig, RetryBudgetConfig
from slokit.gateway import BackendConfig, GatewayConfig, ModelConfig, run_gateway_in_thread
from slokit.gateway.stages.backend import affinity_key

CHAT: Any = [{"role": "user", "content": "hello"}]


def replicated(*urls: str, **settings: Any) -> GatewayConfig:
    model = ModelConfig(name="m", backends=tuple(BackendConfig(url=url) for url in urls))
    return GatewayConfig(models=(model,), **settings)


def test_dead_replica_fails_over_without_errors(emulator: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    config = replicated(dead, emulator, retry_budget=RetryBudgetConfig(ratio=0.0, initial=0.0))
    with run_gateway_in_thread(config) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        for stream in (False, True, False, True):
            reply = client.chat.completions.create(model="m", messages=CHAT, stream=stream)
            assert reply is not None
            if stream:
                assert len([c for c in reply if c.choices and c.choices[0].delta.content]) == 4


def test_circuit_opens_on_a_failing_replica(scripted: Any, emulator: str) -> None:
    config = replicated(
        scripted.url("status-500"),
        emulator,
        breaker=BreakerConfig(failures=2, cooldown_s=60.0),
        retry_budget=RetryBudgetConfig(ratio=1.0, initial=10.0),
    )
    with run_gateway_in_thread(config) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        for _ in range(10):
            assert client.chat.completions.create(model="m", messages=CHAT).choices
    # Least-outstanding picks the failing replica first while its circuit is closed; after two
    # failures it is left alone for the cooldown, and every request went to the healthy one.
    assert scripted.requests["status-500"] == 2


def test_retries_stay_within_the_budget(scripted: Any) -> None:
    requests = 40
    config = replicated(
        scripted.url("status-500"),
        scripted.url("status-503"),
        breaker=BreakerConfig(failures=1000, cooldown_s=1.0),
        retry_budget=RetryBudgetConfig(ratio=0.1, initial=1.0),
        max_attempts=2,
    )
    with run_gateway_in_thread(config) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        for _ in range(requests):
            with pytest.raises(openai.InternalServerError) as caught:
                client.chat.completions.create(model="m", messages=CHAT)
            assert caught.value.status_code == 502
    sent = scripted.requests["status-500"] + scripted.requests["status-503"]
    # Each request is tried once; retries add at most ratio * requests + the initial allowance.
    assert requests < sent <= requests + 0.1 * requests + 1


@pytest.mark.parametrize("balancing", ["least_outstanding", "prefix_affinity"])
def test_prefix_affinity_keeps_a_shared_prefix_on_one_replica(
    scripted: Any, balancing: str
) -> None:
    urls = [scripted.url(f"replica{i}") for i in range(3)]
    model = ModelConfig(
        name="m",
        backends=tuple(BackendConfig(url=url) for url in urls),
        balancing=balancing,  # type: ignore[arg-type]
        affinity_prefix_chars=64,
    )
    system = {"role": "system", "content": "You answer questions about the shipping manual. " * 4}
    with (
        run_gateway_in_thread(GatewayConfig(models=(model,))) as base_url,
        openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0) as client,
    ):
        for i in range(12):
            question = {"role": "user", "content": f"question {i}"}
            client.chat.completions.create(model="m", messages=[system, question])
    served = sorted(scripted.requests[f"replica{i}"] for i in range(3))
    if balancing == "prefix_affinity":
        assert served == [0, 0, 12]  # one prefix, one replica (sequential: never overloaded)
    else:
        assert served == [4, 4, 4]  # idle replicas take turns


def test_affinity_key_is_the_prompt_start() -> None:
    messages = [{"role": "system", "content": "abc"}, {"role": "user", "content": "defgh"}]
    assert affinity_key({"messages": messages}, 8) == "system:a"
    assert affinity_key({"messages": messages}, 100) == "system:abc\nuser:defgh"
    assert affinity_key({"prompt": "0123456789"}, 4) == "0123"
    assert affinity_key({"input": "x"}, 4) is None
