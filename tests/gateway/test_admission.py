"""SLO-aware admission through a running gateway: queue, shed with 429, priority, 503, metrics."""

from __future__ import annotations

import asyncio
import heapq
import re
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest

from slokit.backends.resilience import BreakerConfig
from slokit.clock import ManualClock
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process
from slokit.gateway import (
    AdmissionConfig,
    BackendConfig,
    GatewayConfig,
    ModelConfig,
    TelemetryConfig,
    TenantConfig,
    hash_key,
    run_gateway_in_thread,
)
from slokit.gateway.pipeline import Call
from slokit.gateway.stages.admission import Release, SLOAdmission
from slokit.gateway.wire import ApiError
from slokit.results import iter_records
from slokit.slo import parse_slo

CHAT: Any = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[str]:
    """Replies of 4 tokens, 0.5 s apart after a 10 ms first token: about 1.5 s of service."""
    timing = FixedTiming(ttft_s=0.01, itl_s=0.5, output_tokens=4)
    with run_emulator_process(EmulatorConfig(timing=timing)) as base_url:
        yield base_url


def metric(base_url: str, name: str, **labels: str) -> float:
    """One sample of the gateway's /metrics (0 when absent)."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


def until(condition: Callable[[], bool], *, timeout_s: float = 20.0) -> None:
    """Poll an observable condition (the gateway's own metrics) until it holds."""
    deadline_s = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline_s:
            raise AssertionError("condition not reached")
        time.sleep(0.01)  # a poll interval, so the gateway thread gets the GIL


def gateway(url: str, admission: AdmissionConfig, **extra: Any) -> GatewayConfig:
    slo = extra.pop("slo", None)
    model = ModelConfig(name="m", backends=(BackendConfig(url=url),), slo=slo)
    return GatewayConfig(models=(model,), admission=admission, **extra)


def test_a_call_beyond_the_limit_queues_and_is_served_when_the_slot_frees(scripted: Any) -> None:
    admission = AdmissionConfig(max_concurrency=1, max_wait_s=60.0)
    with run_gateway_in_thread(gateway(scripted.url("gated"), admission)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        stream = iter(client.chat.completions.create(model="m", messages=CHAT, stream=True))
        assert next(stream).choices[0].delta.content == "first"  # holds the only slot
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(client.chat.completions.create, model="m", messages=CHAT)
            until(
                lambda: (
                    metric(base_url, "slokit_gateway_queue_depth", model="m", tenant="anonymous")
                    == 1
                )
            )
            assert metric(base_url, "slokit_gateway_in_flight", model="m") == 1
            assert not waiting.done()
            scripted.open_gate()
            assert [c.choices[0].delta.content for c in stream] == [" last"]
            assert waiting.result(timeout=20).choices[0].message.content == "hi"
        assert metric(base_url, "slokit_gateway_queue_depth", model="m", tenant="anonymous") == 0
        assert metric(base_url, "slokit_gateway_admitted_total", model="m", tenant="anonymous") == 2
        assert metric(base_url, "slokit_gateway_concurrency_limit", model="m") == 1
        assert (
            metric(
                base_url, "slokit_gateway_queue_wait_seconds_count", model="m", tenant="anonymous"
            )
            == 2
        )


def test_a_full_queue_sheds_with_429_and_retry_after(scripted: Any) -> None:
    admission = AdmissionConfig(max_concurrency=1, max_queue=0)
    with run_gateway_in_thread(gateway(scripted.url("gated"), admission)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        stream = iter(client.chat.completions.create(model="m", messages=CHAT, stream=True))
        assert next(stream).choices[0].delta.content == "first"
        with pytest.raises(openai.RateLimitError) as shed:
            client.chat.completions.create(model="m", messages=CHAT, stream=True)
        assert shed.value.response.headers["retry-after"] == "1"
        assert shed.value.code == "overloaded"
        scripted.open_gate()
        assert [c.choices[0].delta.content for c in stream] == [" last"]
        assert client.chat.completions.create(model="m", messages=CHAT).choices
        assert metric(base_url, "slokit_gateway_shed_total", model="m", tenant="anonymous") == 1


def test_a_call_whose_slo_budget_cannot_be_met_is_shed_at_once(slow_emulator: str) -> None:
    # Service takes ~1.5 s; with the one slot busy the predicted wait is ~1.5 s, more than
    # the 2 s budget leaves after the call's own service.
    admission = AdmissionConfig(max_concurrency=1, adaptive=False, max_wait_s=60.0)
    config = gateway(slow_emulator, admission, slo=parse_slo("e2e<=2s"))
    with run_gateway_in_thread(config) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        assert client.chat.completions.create(model="m", messages=CHAT).choices  # learns S
        stream = iter(client.chat.completions.create(model="m", messages=CHAT, stream=True))
        next(stream)
        started_s = time.monotonic()
        with pytest.raises(openai.RateLimitError) as shed:
            client.chat.completions.create(model="m", messages=CHAT)
        assert time.monotonic() - started_s < 1.0  # refused at once, not after waiting
        assert shed.value.code == "overloaded"
        assert "SLO budget" in shed.value.message
        assert int(shed.value.response.headers["retry-after"]) >= 1
        list(stream)


def test_a_call_whose_budget_allows_the_wait_queues_instead(slow_emulator: str) -> None:
    admission = AdmissionConfig(max_concurrency=1, adaptive=False, max_wait_s=60.0)
    config = gateway(slow_emulator, admission, slo=parse_slo("e2e<=8s"))
    with run_gateway_in_thread(config) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        assert client.chat.completions.create(model="m", messages=CHAT).choices
        stream = iter(client.chat.completions.create(model="m", messages=CHAT, stream=True))
        next(stream)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(client.chat.completions.create, model="m", messages=CHAT)
            until(
                lambda: (
                    metric(base_url, "slokit_gateway_queue_depth", model="m", tenant="anonymous")
                    == 1
                )
            )
            list(stream)
            assert waiting.result(timeout=30).choices


def test_priority_classes_order_the_queue(scripted: Any, tmp_path: Path) -> None:
    tenants = tuple(
        TenantConfig(name=name, key_sha256=hash_key(f"key-{name}"), priority=name)  # type: ignore[arg-type]
        for name in ("batch", "standard", "interactive")
    )
    log = tmp_path / "requests.jsonl"
    admission = AdmissionConfig(max_concurrency=1, max_wait_s=60.0)
    config = gateway(
        scripted.url("gated"),
        admission,
        tenants=tenants,
        telemetry=TelemetryConfig(request_log=log),
    )
    with run_gateway_in_thread(config) as base_url:

        def client(name: str) -> openai.OpenAI:
            return openai.OpenAI(base_url=base_url, api_key=f"key-{name}", max_retries=0)

        stream = iter(
            client("standard").chat.completions.create(model="m", messages=CHAT, stream=True)
        )
        next(stream)
        with ThreadPoolExecutor(3) as pool:
            waiting = []
            for name in ("batch", "standard", "interactive"):
                create = client(name).chat.completions.create
                waiting.append(pool.submit(create, model="m", messages=CHAT))
                until(
                    lambda name=name: (
                        metric(base_url, "slokit_gateway_queue_depth", model="m", tenant=name) == 1
                    )
                )
            scripted.open_gate()
            list(stream)
            assert all(w.result(timeout=20).choices for w in waiting)
    records = sorted(iter_records(log), key=lambda r: r.request_id)[1:]  # the three queued
    admitted = [r.scheduled_s + (r.wait_s or 0.0) for r in records]  # batch, standard, interactive
    assert admitted[2] < admitted[1] < admitted[0]


def test_token_buckets_limit_each_tenant_on_its_own(scripted: Any) -> None:
    tenants = (
        TenantConfig(name="slow", key_sha256=hash_key("key-slow"), requests_per_s=0.05),
        TenantConfig(name="tokens", key_sha256=hash_key("key-tokens"), tokens_per_min=600),
        TenantConfig(name="free", key_sha256=hash_key("key-free")),
    )
    admission = AdmissionConfig(max_concurrency=4)
    with run_gateway_in_thread(gateway(scripted.url("ok"), admission, tenants=tenants)) as base_url:

        def create(key: str, **extra: Any) -> Any:
            client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
            return client.chat.completions.create(model="m", messages=CHAT, **extra)

        assert create("key-slow").choices
        with pytest.raises(openai.RateLimitError) as limited:
            create("key-slow")
        assert limited.value.code == "rate_limit_exceeded"
        assert int(limited.value.response.headers["retry-after"]) >= 15  # 1 request / 20 s
        assert create("key-tokens", max_tokens=400).choices  # settled to the ~3 tokens used
        with pytest.raises(openai.RateLimitError):
            create("key-tokens", max_tokens=700)  # a full 600-token minute, ~597 left
        assert create("key-tokens", max_tokens=10).choices  # what is left still passes
        for _ in range(5):
            assert create("key-free").choices  # other tenants are not held back
        assert metric(base_url, "slokit_gateway_shed_total", model="m", tenant="slow") == 1
        assert metric(base_url, "slokit_gateway_shed_total", model="m", tenant="free") == 0


def test_503_with_retry_after_while_the_upstream_is_down() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    admission = AdmissionConfig(max_concurrency=2)
    config = gateway(
        f"http://127.0.0.1:{port}/v1",
        admission,
        breaker=BreakerConfig(failures=1, cooldown_s=30.0),
    )
    with run_gateway_in_thread(config) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        for _ in range(2):  # refused by the upstream, then by the open circuit
            with pytest.raises(openai.InternalServerError) as down:
                client.chat.completions.create(model="m", messages=CHAT)
            assert down.value.status_code == 503
            assert down.value.code == "upstream_unavailable"
            assert down.value.response.headers["retry-after"] == "30"
        assert metric(base_url, "slokit_gateway_in_flight", model="m") == 0


# -------------------------------------------------- SLOAdmission on a ManualClock: the same policy


def slo_model(slo: str) -> ModelConfig:
    return ModelConfig(
        name="m", backends=(BackendConfig(url="http://127.0.0.1:9/v1"),), slo=parse_slo(slo)
    )


def new_call(model: ModelConfig, request_id: int = 0) -> Call:
    return Call(
        request_id=request_id,
        endpoint="chat",
        body=b"{}",
        payload={"model": model.name},
        model=model,
        headers={},
        received_s=0.0,
    )


async def serve(admission: SLOAdmission, model: ModelConfig, clock: ManualClock, *s: float) -> None:
    """One call at a time, each taking the next of ``s`` seconds on ``clock``."""
    for service_s in s:
        release = await admission.acquire(new_call(model))
        clock.advance(service_s)
        release(True)


def one_slot(model: ModelConfig, clock: ManualClock) -> SLOAdmission:
    config = AdmissionConfig(
        max_concurrency=1, adaptive=False, max_wait_s=1000.0, service_window=10
    )
    return SLOAdmission(config, (model,), clock)


@pytest.mark.asyncio
async def test_a_call_is_shed_when_its_completion_at_the_tail_would_miss_the_deadline() -> None:
    # Nine replies of 10 s and one of 40 s: the mean (13 s) would queue a call with a 70 s
    # budget behind a busy slot (13 + 13 < 70); the p95 (40 s) says 40 + 40 > 70.
    clock, model = ManualClock(), slo_model("e2e<=70s")
    admission = one_slot(model, clock)
    await serve(admission, model, clock, *([10.0] * 9), 40.0)
    assert admission.limit("m").service_quantile_s == 40.0
    busy = await admission.acquire(new_call(model))
    with pytest.raises(ApiError) as shed:
        await admission.acquire(new_call(model))
    assert shed.value.status == 429
    assert "SLO budget" in str(shed.value)
    assert admission.queued("m") == 0
    busy(True)


@pytest.mark.asyncio
async def test_a_queued_call_must_start_early_enough_for_a_slow_reply() -> None:
    # With a 100 s budget and a 40 s p95 the call may start up to 60 s after it arrived (by
    # the mean, up to 87 s): at 61 s it is shed instead of sent upstream to miss its SLO.
    clock, model = ManualClock(), slo_model("e2e<=100s")
    admission = one_slot(model, clock)
    await serve(admission, model, clock, *([10.0] * 9), 40.0)
    busy = await admission.acquire(new_call(model))
    waiting = asyncio.ensure_future(admission.acquire(new_call(model)))
    await asyncio.sleep(0)
    assert admission.queued("m") == 1
    clock.advance(61.0)
    busy(True)
    with pytest.raises(ApiError) as shed:
        await waiting
    assert shed.value.status == 429
    assert admission.limit("m").in_flight == 0


@pytest.mark.asyncio
async def test_the_limit_shrinks_when_the_upstream_serves_one_call_at_a_time() -> None:
    # Each call upstream adds its whole service time to every other: more than one in flight
    # buys no throughput, so the limit comes down from 4 to 1.
    clock, model = ManualClock(), slo_model("e2e<=100s")
    config = AdmissionConfig(max_concurrency=4, max_wait_s=1000.0)
    admission = SLOAdmission(config, (model,), clock)
    limit = admission.limit("m")
    running: list[tuple[float, int, Release]] = []
    limits = []
    for request_id in range(300):
        while limit.in_flight < limit.limit:
            release = await admission.acquire(new_call(model, request_id))
            heapq.heappush(running, (clock.now() + 1.0 * limit.in_flight, id(release), release))
        finish_s, _, release = heapq.heappop(running)
        clock.advance(finish_s - clock.now())
        release(True)
        limits.append(limit.limit)
    assert limits[0] == 4
    assert limits[-60:].count(1) > 45
