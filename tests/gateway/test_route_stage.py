"""Routed aliases: a trained router sends each request to a model; the decision is visible."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from slokit.embedding import HashingEmbedder
from slokit.errors import ConfigError
from slokit.gateway import (
    BackendConfig,
    GatewayConfig,
    ModelConfig,
    TelemetryConfig,
    run_gateway_in_thread,
)
from slokit.gateway.config import Price, RouteConfig
from slokit.gateway.config_file import parse_config
from slokit.gateway.stages.route import _SAMPLES, RouteStage, _Route, prompt_text
from slokit.gateway.telemetry import Telemetry
from slokit.results import iter_records
from slokit.routing import (
    STRONG,
    WEAK,
    DifficultyRouter,
    FactorisationConfig,
    LabelledSet,
    TrainConfig,
    load_router,
    save_router,
    train_router,
)

EASY_WORDS = ("capital", "france", "colour", "sky", "count", "apples")
HARD_WORDS = ("eigenvalue", "manifold", "homology", "tensor", "lemma", "integral")
EASY = "question: " + " ".join(EASY_WORDS) + "?"
HARD = "question: " + " ".join(HARD_WORDS) + "?"


def examples(n: int) -> LabelledSet:
    """Easy prompts both models answer, hard ones only the strong model does."""
    rng = random.Random(0)
    prompts = []
    for i in range(n):
        words = rng.choices(HARD_WORDS if i % 2 else EASY_WORDS, k=6)
        prompts.append(f"question {i}: " + " ".join(words) + "?")
    labels = np.array([(i % 2 == 0, True) for i in range(n)], dtype=bool)
    return LabelledSet(tuple(prompts), (WEAK, STRONG), labels)


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = TrainConfig(candidates=("logistic",), factorisation=FactorisationConfig(rank=4))
    trained = train_router(examples(300), HashingEmbedder(dimensions=64), config)
    path = tmp_path_factory.mktemp("router") / "router.json"
    save_router(trained.router, path)
    return path


def routed(scripted: Any, router: Path, **telemetry: Any) -> GatewayConfig:
    cheap = ModelConfig(
        name="cheap",
        backends=(BackendConfig(url=scripted.url("cheap")),),
        price=Price(input_per_mtok=1.0, output_per_mtok=2.0),
    )
    big = ModelConfig(
        name="big",
        backends=(BackendConfig(url=scripted.url("big")),),
        price=Price(input_per_mtok=10.0, output_per_mtok=30.0),
    )
    route = RouteConfig(
        name="auto", router=router, fallback="big", models=(("weak", "cheap"), ("strong", "big"))
    )
    return GatewayConfig(
        models=(cheap, big), routes=(route,), telemetry=TelemetryConfig(**telemetry)
    )


def test_easy_prompts_go_cheap_and_hard_ones_strong(
    scripted: Any, router_file: Path, tmp_path: Path
) -> None:
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(routed(scripted, router_file, request_log=log)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        easy = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": EASY}]
        )
        hard = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": HARD}]
        )
        direct = client.chat.completions.with_raw_response.create(
            model="cheap", messages=[{"role": "user", "content": HARD}]
        )
        models = {m.id for m in client.models.list().data}
        metrics = client.with_options(base_url=base_url.removesuffix("/v1")).get(
            "/metrics", cast_to=str
        )
    assert easy.headers["x-slokit-route"] == "cheap"
    assert hard.headers["x-slokit-route"] == "big"
    assert float(hard.headers["x-slokit-route-score"]) > float(easy.headers["x-slokit-route-score"])
    assert "x-slokit-route" not in direct.headers  # a plain model is not routed
    assert scripted.requests["cheap"] == 2
    assert scripted.requests["big"] == 1
    assert models == {"cheap", "big", "auto"}
    # Cost by the price table: the scripted upstream reports 2 prompt and 1 completion tokens.
    assert float(easy.headers["x-slokit-cost-usd"]) == pytest.approx(2e-6 * 1 + 1e-6 * 2)
    assert float(hard.headers["x-slokit-cost-usd"]) == pytest.approx(2e-6 * 10 + 1e-6 * 30)
    assert 'slokit_gateway_routed_total{model="big",route="auto"} 1.0' in metrics
    assert 'slokit_gateway_routed_total{model="cheap",route="auto"} 1.0' in metrics
    assert "slokit_gateway_route_seconds_count" in metrics
    records = list(iter_records(log))
    assert [r.model for r in records] == ["cheap", "big", "cheap"]
    assert records[0].annotations["route"] == "auto"
    assert records[1].annotations["route_model"] == "big"
    assert records[1].cost_usd == pytest.approx(50e-6)
    assert "route" not in records[2].annotations


def test_concurrent_requests_are_each_routed_by_their_own_prompt(
    scripted: Any, router_file: Path
) -> None:
    async def main(base_url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as client:
            prompts = [EASY if i % 2 else HARD for i in range(16)]
            replies = await asyncio.gather(
                *(
                    client.chat.completions.with_raw_response.create(
                        model="auto", messages=[{"role": "user", "content": prompt}]
                    )
                    for prompt in prompts
                )
            )
        return [reply.headers["x-slokit-route"] for reply in replies]

    with run_gateway_in_thread(routed(scripted, router_file)) as base_url:
        picked = asyncio.run(main(base_url))
    assert picked == ["big" if i % 2 == 0 else "cheap" for i in range(16)]


def test_a_prompt_less_request_goes_to_the_fallback(scripted: Any, router_file: Path) -> None:
    with run_gateway_in_thread(routed(scripted, router_file)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "system", "content": "only a system turn"}]
        )
    assert "x-slokit-route" not in reply.headers
    assert scripted.requests["big"] == 1


def test_prompt_text_takes_the_last_user_turn_or_the_prompt() -> None:
    chat = {
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ]
    }
    assert prompt_text(chat) == "second"
    assert prompt_text({"prompt": "complete me"}) == "complete me"
    assert prompt_text({"prompt": ["a", "b"]}) == "a\nb"
    assert prompt_text({"prompt": [1, 2]}) is None
    assert prompt_text({"messages": [{"role": "system", "content": "x"}]}) is None


def test_route_config_errors_name_the_key(router_file: Path) -> None:
    base = {"models": {"cheap": {"backends": [{"url": "http://127.0.0.1:1/v1"}]}}}
    with pytest.raises(ConfigError, match=r"routes\.auto: no model 'big'"):
        parse_config({**base, "routes": {"auto": {"router": str(router_file), "fallback": "big"}}})
    with pytest.raises(ConfigError, match=r"routes\.cheap: a model has this name"):
        parse_config({**base, "routes": {"cheap": {"router": "r.json", "fallback": "cheap"}}})
    with pytest.raises(ConfigError, match=r"routes\.auto\.fallback: required"):
        parse_config({**base, "routes": {"auto": {"router": "r.json"}}})


def test_a_router_model_without_a_gateway_model_fails_at_start(
    scripted: Any, router_file: Path
) -> None:
    config = routed(scripted, router_file)
    route = RouteConfig(name="auto", router=router_file, fallback="big")  # no name mapping
    config = GatewayConfig(models=config.models, routes=(route,))
    with pytest.raises(ConfigError, match=r"the router picks 'weak'.*routes\.auto\.models\.weak"):
        RouteStage.from_config(config, Telemetry())


def test_a_fast_router_moves_inline_and_a_slow_one_stays_in_the_thread(
    router_file: Path,
) -> None:
    config = RouteConfig(
        name="auto", router=router_file, fallback="big", models=(("weak", "cheap"),)
    )
    models = {
        name: ModelConfig(name=name, backends=(BackendConfig(url="http://127.0.0.1:1/v1"),))
        for name in ("cheap", "big")
    }
    fast = load_router(router_file)

    class Slow(DifficultyRouter):
        def route_many(self, prompts: Any, *, progress: bool = False) -> Any:
            time.sleep(0.003)
            return super().route_many(prompts, progress=progress)

    slow = Slow(fast.embedder, fast.model, fast.spec)

    async def main(router: DifficultyRouter) -> tuple[bool, list[str]]:
        route = _Route(config, router, {"weak": models["cheap"]}, Telemetry())
        picks = [(await route.decide(HARD)).model for _ in range(_SAMPLES + 2)]
        return route.inline, picks

    fast_inline, fast_picks = asyncio.run(main(fast))
    slow_inline, slow_picks = asyncio.run(main(slow))
    assert fast_inline
    assert not slow_inline
    assert set(fast_picks) == set(slow_picks) == {"strong"}
    assert config.gateway_model("weak") == "cheap"
