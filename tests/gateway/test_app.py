"""The gateway end to end: the official OpenAI client against a running gateway and upstream."""

from __future__ import annotations

import asyncio
import http.client
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import orjson
import pytest

from slokit.backends.openai_http import Timeouts
from slokit.gateway import (
    BackendConfig,
    GatewayConfig,
    ModelConfig,
    TelemetryConfig,
    TenantConfig,
    hash_key,
    run_gateway_in_thread,
)
from slokit.results import iter_records

CHAT = [{"role": "user", "content": "hello"}]


def single(url: str, *, name: str = "m", timeouts: Timeouts | None = None) -> GatewayConfig:
    model = ModelConfig(
        name=name, backends=(BackendConfig(url=url),), timeouts=timeouts or Timeouts()
    )
    return GatewayConfig(models=(model,))


def request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def assert_error_body(body: bytes) -> dict[str, object]:
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error  # type: ignore[no-any-return]


def test_sync_client_whole_and_streamed(emulator: str, tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    config = replace(single(emulator), telemetry=TelemetryConfig(request_log=log))
    with run_gateway_in_thread(config) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=CHAT)  # type: ignore[arg-type]
        assert reply.choices[0].message.content
        assert reply.usage is not None
        assert reply.usage.completion_tokens == 4
        stream = client.chat.completions.create(
            model="m",
            messages=CHAT,
            stream=True,
            stream_options={"include_usage": True},  # type: ignore[arg-type]
        )
        texts = [
            c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
        ]
        assert len(texts) == 4
        completion = client.completions.create(model="m", prompt="once upon", max_tokens=2)
        assert completion.choices[0].text
        assert [m.id for m in client.models.list()] == ["m"]
    records = list(iter_records(log))
    assert [r.status for r in records] == [200, 200, 200]
    streamed = records[1]
    assert streamed.output_tokens == 4
    assert not streamed.output_tokens_counted
    assert len(streamed.chunk_times_s) == 4
    assert streamed.ttft_s is not None
    assert 0.01 <= streamed.ttft_s < streamed.e2e_s
    assert records[0].replica == "m/0"


def test_async_client_streams_concurrently(emulator: str) -> None:
    async def main(base_url: str) -> list[int]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)

        async def one() -> int:
            stream = await client.completions.create(model="m", prompt="x", stream=True)
            return len([chunk async for chunk in stream if chunk.choices and chunk.choices[0].text])

        counts = await asyncio.gather(*(one() for _ in range(8)))
        whole = await client.chat.completions.create(model="m", messages=CHAT)  # type: ignore[arg-type]
        assert whole.choices[0].message.content
        await client.close()
        return list(counts)

    with run_gateway_in_thread(single(emulator)) as base_url:
        assert asyncio.run(main(base_url)) == [4] * 8


def test_stream_passes_through_before_upstream_finishes(scripted: Any) -> None:
    with run_gateway_in_thread(single(scripted.url("gated"))) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        stream = client.chat.completions.create(model="m", messages=CHAT, stream=True)  # type: ignore[arg-type]
        chunks = iter(stream)
        # The upstream holds the rest of its reply until the gate opens: only a gateway that
        # passes chunks through as they come can hand this one to the client now.
        assert next(chunks).choices[0].delta.content == "first"
        scripted.open_gate()
        assert [c.choices[0].delta.content for c in chunks] == [" last"]


def test_embeddings_and_service_endpoints(scripted: Any) -> None:
    with run_gateway_in_thread(single(scripted.url("ok"))) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        embedding = client.embeddings.create(model="m", input="hello")
        assert embedding.data[0].embedding == [0.1, 0.2, 0.3]
        root = base_url.removesuffix("/v1")
        assert request(root, "GET", "/healthz")[0] == 200
        assert request(root, "GET", "/readyz")[0] == 200
        status, headers, body = request(root, "GET", "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        assert b'slokit_gateway_e2e_seconds_count{model="m",tenant="anonymous"} 1.0' in body
        status, _, body = request(root, "GET", "/openapi.json")
        assert status == 200
        assert orjson.loads(body)["openapi"].startswith("3.")


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
        (b'{"model": "m", "messages": "hello"}', 400, "messages"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            400,
            "stream",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}',
            400,
            "max_tokens",
        ),
        (b'{"model": "gone", "messages": [{"role": "user", "content": "x"}]}', 404, "model"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * 2000 + b'"}]}',
            413,
            None,
        ),
    ],
)
def test_bad_input_gets_openai_errors(
    emulator: str, body: bytes, status: int, param: str | None
) -> None:
    config = replace(single(emulator), max_body_bytes=1000)
    with run_gateway_in_thread(config) as base_url:
        root = base_url.removesuffix("/v1")
        got, _, reply = request(root, "POST", "/v1/chat/completions", body)
        assert got == status
        assert assert_error_body(reply)["param"] == param


def test_unknown_routes_and_methods(emulator: str) -> None:
    with run_gateway_in_thread(single(emulator)) as base_url:
        root = base_url.removesuffix("/v1")
        assert request(root, "GET", "/v1/chat/completions")[0] == 405
        assert request(root, "POST", "/v1/models")[0] == 405
        status, _, body = request(root, "GET", "/nowhere")
        assert status == 404
        assert_error_body(body)


def test_tenants_authenticate_and_keys_stay_secret(emulator: str) -> None:
    tenant = TenantConfig(name="acme", key_sha256=hash_key("sk-acme-secret"))
    config = replace(single(emulator), tenants=(tenant,))
    with run_gateway_in_thread(config) as base_url:
        good = openai.OpenAI(base_url=base_url, api_key="sk-acme-secret", max_retries=0)
        assert good.chat.completions.create(model="m", messages=CHAT).choices  # type: ignore[arg-type]
        bad = openai.OpenAI(base_url=base_url, api_key="sk-wrong-guess", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            bad.chat.completions.create(model="m", messages=CHAT)  # type: ignore[arg-type]
        assert "sk-wrong-guess" not in str(caught.value.body)
        root = base_url.removesuffix("/v1")
        body = orjson.dumps({"model": "m", "messages": CHAT})
        status, _, reply = request(root, "POST", "/v1/chat/completions", body)
        assert status == 401
        assert assert_error_body(reply)["code"] == "missing_api_key"
        metrics = request(root, "GET", "/metrics")[2]
        assert b'tenant="acme"' in metrics
        assert b"secret" not in metrics


def test_tenant_rate_limit_sheds_with_retry_after(emulator: str) -> None:
    tenant = TenantConfig(name="slow", key_sha256=hash_key("k"), requests_per_s=0.01)
    config = replace(single(emulator), tenants=(tenant,))
    with run_gateway_in_thread(config) as base_url:
        root = base_url.removesuffix("/v1")
        body = orjson.dumps({"model": "m", "messages": CHAT})
        headers = {"Authorization": "Bearer k"}
        assert request(root, "POST", "/v1/chat/completions", body, headers)[0] == 200
        status, reply_headers, reply = request(root, "POST", "/v1/chat/completions", body, headers)
        assert status == 429
        assert int(reply_headers["retry-after"]) >= 1
        assert assert_error_body(reply)["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("stream", [False, True])
def test_token_charges_are_settled_from_what_the_reply_used(scripted: Any, stream: bool) -> None:
    # A minute of 1,000 tokens; each request reserves its prompt + 600 output tokens up front.
    # The scripted upstream answers with 1 token (usage) or 2 content events (stream): unless
    # the unused reservation comes back, the second request finds 400 tokens and gets 429.
    tenant = TenantConfig(name="t", key_sha256=hash_key("k"), tokens_per_min=1000)
    config = replace(single(scripted.url("ok")), tenants=(tenant,))
    body = orjson.dumps({"model": "m", "messages": CHAT, "max_tokens": 600, "stream": stream})
    headers = {"Authorization": "Bearer k"}
    with run_gateway_in_thread(config) as base_url:
        statuses = [
            request(base_url, "POST", "/v1/chat/completions", body, headers)[0] for _ in range(3)
        ]
    assert statuses == [200, 200, 200]


def test_upstream_failures_map_to_502_503_504(scripted: Any) -> None:
    quick = Timeouts(connect_s=1.0, first_token_s=0.2, inter_chunk_s=0.2, total_s=1.0)
    cases = [
        (scripted.url("status-500"), 502, "upstream_error"),
        (scripted.url("status-401"), 502, "upstream_error"),
        (scripted.url("hang"), 504, "upstream_timeout"),
        ("http://127.0.0.1:9/v1", 503, "upstream_unavailable"),
    ]
    for url, status, code in cases:
        with run_gateway_in_thread(single(url, timeouts=quick)) as base_url:
            root = base_url.removesuffix("/v1")
            body = orjson.dumps({"model": "m", "messages": CHAT})
            got, _, reply = request(root, "POST", "/v1/chat/completions", body)
            assert got == status, url
            error = assert_error_body(reply)
            assert error["code"] == code
            assert "127.0.0.1" not in str(error["message"])  # no upstream address reaches clients


def test_stalled_stream_ends_with_an_error_event(scripted: Any) -> None:
    quick = Timeouts(first_token_s=1.0, inter_chunk_s=0.2, total_s=5.0)
    with run_gateway_in_thread(single(scripted.url("stall"), timeouts=quick)) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        stream = client.chat.completions.create(model="m", messages=CHAT, stream=True)  # type: ignore[arg-type]
        chunks = iter(stream)
        assert next(chunks).choices[0].delta.content == "first"
        with pytest.raises(openai.APIError, match="stalled"):
            next(chunks)
