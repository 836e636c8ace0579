"""The cache stage through a running gateway: hits, replay as SSE, single flight, isolation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from slokit.cache import Calibration
from slokit.cache.scoring import FEATURE_NAMES, HitModel
from slokit.errors import ConfigError
from slokit.gateway import (
    BackendConfig,
    GatewayConfig,
    ModelConfig,
    TelemetryConfig,
    TenantConfig,
    hash_key,
    run_gateway_in_thread,
)
from slokit.gateway.config import CacheStageConfig, Price
from slokit.gateway.config_file import parse_config
from slokit.gateway.sse import StreamCollector
from slokit.gateway.stages.cache import CacheStage, replay_events
from slokit.gateway.telemetry import Telemetry
from slokit.results import iter_records

from .test_app import assert_error_body, request

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def cached(url: str, cache: CacheStageConfig | None = None, **config: Any) -> GatewayConfig:
    model = ModelConfig(
        name="m", backends=(BackendConfig(url=url),), price=Price(input_per_mtok=1.0)
    )
    return GatewayConfig(models=(model,), cache=cache or CacheStageConfig(), **config)


def client_for(base_url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


def test_identical_requests_hit_and_cost_nothing(scripted: Any, tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    config = cached(scripted.url("ok"), telemetry=TelemetryConfig(request_log=log))
    with run_gateway_in_thread(config) as base_url, client_for(base_url) as client:
        first = client.chat.completions.with_raw_response.create(
            model="m", messages=QUESTION, temperature=0
        )
        second = client.chat.completions.with_raw_response.create(
            model="m", messages=QUESTION, temperature=0
        )
        other = client.chat.completions.with_raw_response.create(
            model="m", messages=QUESTION, temperature=0, max_tokens=5
        )
        metrics = client.get("/../metrics", cast_to=str)
    assert [r.headers["x-slokit-cache"] for r in (first, second, other)] == ["miss", "hit", "miss"]
    assert first.parse().choices[0].message.content == second.parse().choices[0].message.content
    assert scripted.requests["ok"] == 2
    assert "x-slokit-cost-usd" in first.headers
    assert "x-slokit-cost-usd" not in second.headers
    assert 'slokit_gateway_cache_lookups_total{model="m",result="hit"} 1.0' in metrics
    assert 'slokit_gateway_cache_lookups_total{model="m",result="miss"} 2.0' in metrics
    records = list(iter_records(log))
    assert [r.annotations["cache"] for r in records] == ["miss", "hit", "miss"]
    assert records[1].cost_usd is None
    assert records[0].cost_usd == pytest.approx(2e-6)


def test_sampled_and_errored_requests_are_not_cached(scripted: Any) -> None:
    with run_gateway_in_thread(cached(scripted.url("ok"))) as base_url, client_for(base_url) as c:
        sampled = [
            c.chat.completions.with_raw_response.create(model="m", messages=QUESTION)
            for _ in range(2)
        ]
    assert [r.headers["x-slokit-cache"] for r in sampled] == ["bypass", "bypass"]
    assert scripted.requests["ok"] == 2
    body = orjson.dumps({"model": "m", "messages": QUESTION, "temperature": 0})
    with run_gateway_in_thread(cached(scripted.url("status-500"))) as base_url:
        statuses = [request(base_url, "POST", "/v1/chat/completions", body)[0] for _ in range(2)]
    assert statuses == [502, 502]
    assert scripted.requests["status-500"] == 2


def test_a_streamed_reply_is_stored_and_a_hit_replays_as_events(emulator: str) -> None:
    with run_gateway_in_thread(cached(emulator)) as base_url, client_for(base_url) as c:
        streamed = c.chat.completions.with_raw_response.create(
            model="m", messages=QUESTION, temperature=0, stream=True
        )
        first_text = "".join(
            chunk.choices[0].delta.content or "" for chunk in streamed.parse() if chunk.choices
        )
        replayed = c.chat.completions.with_raw_response.create(
            model="m", messages=QUESTION, temperature=0, stream=True
        )
        chunks = list(replayed.parse())
        whole = c.chat.completions.with_raw_response.create(
            model="m", messages=QUESTION, temperature=0
        )
    assert streamed.headers["x-slokit-cache"] == "miss"
    assert replayed.headers["x-slokit-cache"] == "hit"
    assert replayed.headers["content-type"].startswith("text/event-stream")
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == first_text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert whole.headers["x-slokit-cache"] == "hit"  # the non-streamed form of the same request
    assert whole.parse().choices[0].message.content == first_text != ""


def test_a_stream_without_a_finish_reason_is_not_stored(scripted: Any) -> None:
    with run_gateway_in_thread(cached(scripted.url("ok"))) as base_url, client_for(base_url) as c:
        outcomes = []
        for _ in range(2):
            reply = c.chat.completions.with_raw_response.create(
                model="m", messages=QUESTION, temperature=0, stream=True
            )
            assert [ch.choices[0].delta.content for ch in reply.parse()] == ["first", " last"]
            outcomes.append(reply.headers["x-slokit-cache"])
    assert outcomes == ["miss", "miss"]
    assert scripted.requests["ok"] == 2


def test_bypass_and_refresh_headers(scripted: Any) -> None:
    body = orjson.dumps({"model": "m", "messages": QUESTION, "temperature": 0})
    path = "/v1/chat/completions"
    with run_gateway_in_thread(cached(scripted.url("ok"))) as base_url:
        outcomes = [
            request(base_url, "POST", path, body, headers)[1]["x-slokit-cache"]
            for headers in (
                {},
                {"x-slokit-cache": "bypass"},
                {"x-slokit-cache": "refresh"},
                {},
            )
        ]
        status, _, error = request(base_url, "POST", path, body, {"x-slokit-cache": "sometimes"})
    assert outcomes == ["miss", "bypass", "miss", "hit"]
    assert scripted.requests["ok"] == 3
    assert status == 400
    assert assert_error_body(error)["param"] == "x-slokit-cache"


def test_concurrent_identical_requests_share_one_upstream_call(scripted: Any) -> None:
    async def main(base_url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
            replies = await asyncio.gather(
                *(
                    client.chat.completions.with_raw_response.create(
                        model="m", messages=QUESTION, temperature=0
                    )
                    for _ in range(8)
                )
            )
        return sorted(reply.headers["x-slokit-cache"] for reply in replies)

    with run_gateway_in_thread(cached(scripted.url("slow"))) as base_url:
        outcomes = asyncio.run(main(base_url))
    assert scripted.requests["slow"] == 1
    assert outcomes == ["hit"] * 7 + ["miss"]


def test_no_hit_across_tenants(scripted: Any) -> None:
    tenants = tuple(
        TenantConfig(name=name, key_sha256=hash_key(f"sk-{name}")) for name in ("acme", "globex")
    )
    config = cached(scripted.url("ok"), tenants=tenants)
    outcomes = []
    with run_gateway_in_thread(config) as base_url:
        for name in ("acme", "globex", "acme"):
            with client_for(base_url, f"sk-{name}") as client:
                reply = client.chat.completions.with_raw_response.create(
                    model="m", messages=QUESTION, temperature=0
                )
                outcomes.append(reply.headers["x-slokit-cache"])
    assert outcomes == ["miss", "miss", "hit"]
    assert scripted.requests["ok"] == 2


def similarity_at_least(min_similarity: float) -> Calibration:
    """A calibration whose hit score is the cosine similarity minus ``min_similarity``."""
    names = FEATURE_NAMES
    return Calibration(
        max_false_hit_rate=0.01,
        confidence=0.95,
        candidates=4,
        threshold=0.0,
        embedder="hashing-256",
        model=HitModel(
            feature_names=names,
            mean=(0.0,) * len(names),
            scale=(1.0,) * len(names),
            weights=tuple(1.0 if name == "similarity" else 0.0 for name in names),
            bias=-min_similarity,
        ),
    )


def test_semantic_hit_within_one_conversation_context(scripted: Any, tmp_path: Path) -> None:
    calibration = similarity_at_least(0.8)
    path = tmp_path / "calibration.json"
    path.write_bytes(orjson.dumps(calibration.to_json()))
    config = cached(scripted.url("ok"), CacheStageConfig(calibration=path))
    paraphrase = [{"role": "user", "content": "what is the capital of France"}]
    other_context = [{"role": "system", "content": "Answer in French."}, *paraphrase]
    with run_gateway_in_thread(config) as base_url, client_for(base_url) as client:
        replies = [
            client.chat.completions.with_raw_response.create(
                model="m",
                messages=messages,  # type: ignore[arg-type]
                temperature=0,
            )
            for messages in (QUESTION, paraphrase, other_context)
        ]
    assert [r.headers["x-slokit-cache"] for r in replies] == ["miss", "hit", "miss"]
    assert float(replies[1].headers["x-slokit-cache-similarity"]) >= 0.8
    assert scripted.requests["ok"] == 2


def test_a_sqlite_cache_survives_a_restart(scripted: Any, tmp_path: Path) -> None:
    config = cached(scripted.url("ok"), CacheStageConfig(store="sqlite", path=tmp_path / "c.db"))
    outcomes = []
    for _ in range(2):
        with run_gateway_in_thread(config) as base_url, client_for(base_url) as client:
            reply = client.chat.completions.with_raw_response.create(
                model="m", messages=QUESTION, temperature=0
            )
            outcomes.append(reply.headers["x-slokit-cache"])
    assert outcomes == ["miss", "hit"]


def test_replay_and_collect_are_inverse() -> None:
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 7,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "a b"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    events = b"".join(replay_events(body, include_usage=True))
    # Chunk boundaries anywhere: split the byte stream into 7-byte pieces.
    collector = StreamCollector(events[:7])
    for start in range(7, len(events), 7):
        collector.feed(events[start : start + 7])
    assert collector.completion() == body


@pytest.mark.parametrize(("opt_in", "second"), [(False, "miss"), (True, "hit")])
def test_replies_cut_at_max_tokens_are_stored_only_on_opt_in(
    emulator: str, opt_in: bool, second: str
) -> None:
    config = cached(emulator, CacheStageConfig(store_length_limited=opt_in))
    with run_gateway_in_thread(config) as base_url, client_for(base_url) as client:
        replies = [
            client.chat.completions.with_raw_response.create(
                model="m", messages=QUESTION, temperature=0, max_tokens=2
            )
            for _ in range(2)
        ]
    assert replies[0].parse().choices[0].finish_reason == "length"
    assert [r.headers["x-slokit-cache"] for r in replies] == ["miss", second]


def test_two_gateways_share_exact_hits_through_redis(
    scripted: Any, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLOKIT_TEST_REDIS_URL", redis_server.url)
    shared = CacheStageConfig(store="redis", url_env="SLOKIT_TEST_REDIS_URL")
    config = cached(scripted.url("ok"), shared)
    with (
        run_gateway_in_thread(config) as first_url,
        run_gateway_in_thread(config) as second_url,
        client_for(first_url) as first,
        client_for(second_url) as second,
    ):
        outcomes = [
            client.chat.completions.with_raw_response.create(
                model="m",
                messages=[{"role": "user", "content": "shared question"}],
                temperature=0,
            ).headers["x-slokit-cache"]
            for client in (first, second)
        ]
    assert outcomes == ["miss", "hit"]
    assert scripted.requests["ok"] == 1


def test_shared_store_config_errors_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"models": {"m": {"backends": [{"url": "http://127.0.0.1:1/v1"}]}}}
    with pytest.raises(ConfigError, match=r"stages\.cache\.url_env: required with store: redis"):
        parse_config({**base, "stages": {"cache": {"store": "redis"}}})
    with pytest.raises(ConfigError, match=r"stages\.cache\.calibration: required"):
        parse_config({**base, "stages": {"cache": {"store": "pgvector", "url_env": "PG"}}})
    monkeypatch.delenv("SLOKIT_UNSET_URL", raising=False)
    config = CacheStageConfig(store="redis", url_env="SLOKIT_UNSET_URL")
    with pytest.raises(ConfigError, match="SLOKIT_UNSET_URL is not set"):
        CacheStage.from_config(config, Telemetry())
