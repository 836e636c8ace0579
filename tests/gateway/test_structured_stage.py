"""The structured stage end to end: the official OpenAI client, a gateway, a scripted model."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web

from servers import ThreadedApp
from slokit.backends.local import LocalModelServer
from slokit.gateway import (
    BackendConfig,
    GatewayConfig,
    ModelConfig,
    TelemetryConfig,
    run_gateway_in_thread,
)
from slokit.gateway.config import SchemaForm, StructuredStageConfig
from slokit.results import RequestRecord, iter_records
from slokit.structured import Action, StructuredParser

CHAT: Any = [{"role": "user", "content": "Who wrote the first program? Answer in JSON."}]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
JSON_SCHEMA: Any = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
VALID = '{"name": "Ada", "age": 36}'
CANONICAL = '{"name":"Ada","age":36}'


class ContentUpstream(ThreadedApp):
    """An OpenAI-shaped chat upstream that answers with the scripted contents, in turn.

    Each call takes the next of ``contents`` (the last one repeats); ``seen`` holds the request
    bodies. Usage is 10 prompt and 5 completion tokens per call; a stream carries its content
    in 4-character deltas, then a finish event, then ``[DONE]``. ``holds`` maps a call's
    number (1-based) to the event before which its stream waits for :attr:`release`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.contents: list[str] = []
        self.seen: list[dict[str, Any]] = []
        self.holds: dict[int, int] = {}
        self.release = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._handle)

    def before_stop(self) -> None:
        self.release.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.seen.append(body)
        content = self.contents[min(len(self.seen), len(self.contents)) - 1]
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if not body.get("stream"):
            reply = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            return web.Response(body=orjson.dumps(reply), content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        events = [_event({"content": content[at : at + 4]}) for at in range(0, len(content), 4)]
        events += [_event({}, finish="stop"), b"data: [DONE]\n\n"]
        hold = self.holds.get(len(self.seen))
        for index, event in enumerate(events):
            if index == hold:
                await self.release.wait()
            await response.write(event)
        await response.write_eof()
        return response


def _event(delta: dict[str, str], finish: str | None = None) -> bytes:
    event = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


@pytest.fixture
def upstream() -> Iterator[ContentUpstream]:
    server = ContentUpstream()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def config(
    url: str,
    log: Path,
    *,
    max_reasks: int = 1,
    form: SchemaForm = "openai",
) -> GatewayConfig:
    model = ModelConfig(name="m", backends=(BackendConfig(url=url),), schema_form=form)
    return GatewayConfig(
        models=(model,),
        structured=StructuredStageConfig(max_reasks=max_reasks, reask_max_tokens=64),
        telemetry=TelemetryConfig(request_log=log),
    )


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)


def metrics(base_url: str) -> str:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as reply:
        text: str = reply.read().decode()
    return text


def records(log: Path) -> list[RequestRecord]:
    return list(iter_records(log))


@pytest.mark.parametrize(
    ("content", "outcome", "returned"),
    [
        (VALID, "valid", VALID),
        ('Sure! ```json\n{"name": "Ada", "age": 36}\n```', "repaired", CANONICAL),
        ("{'name': 'Ada', 'age': 36,}", "repaired", CANONICAL),
        ('{"name": "Ada", "age": "36"}', "coerced", CANONICAL),
        ('{"Name": "Ada", "age": 36, "born": 1815}', "coerced", CANONICAL),
        ("I would rather not say.", "failed", "I would rather not say."),
    ],
)
def test_whole_replies_get_their_outcome(
    upstream: ContentUpstream, tmp_path: Path, content: str, outcome: str, returned: str
) -> None:
    upstream.contents = [content]
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(config(upstream.url, log, max_reasks=0)) as base_url:
        raw = client(base_url).chat.completions.with_raw_response.create(
            model="m", messages=CHAT, response_format=JSON_SCHEMA
        )
        reply = raw.parse()
        assert raw.headers["x-slokit-parse"] == outcome
        assert reply.choices[0].message.content == returned
        exposition = metrics(base_url)
    assert f'slokit_gateway_structured_total{{model="m",parse="{outcome}"}} 1.0' in exposition
    assert len(upstream.seen) == 1  # no re-ask budget: one call whatever the outcome
    # In the default ``openai`` form the request goes up as the client wrote it.
    assert upstream.seen[0]["response_format"] == JSON_SCHEMA
    (record,) = records(log)
    assert record.annotations["parse"] == outcome
    assert ("parse_error" in record.annotations) == (outcome == "failed")


def test_schema_form_none_leaves_the_format_out_and_repairs_on_the_cpu(
    upstream: ContentUpstream, tmp_path: Path
) -> None:
    upstream.contents = ['Sure! {"name": "Ada", "age": 36}']
    log = tmp_path / "r.jsonl"
    with run_gateway_in_thread(config(upstream.url, log, max_reasks=0, form="none")) as url:
        raw = client(url).chat.completions.with_raw_response.create(
            model="m", messages=CHAT, response_format=JSON_SCHEMA
        )
    assert "response_format" not in upstream.seen[0]
    assert raw.headers["x-slokit-parse"] == "repaired"


def test_json_object_accepts_any_object(upstream: ContentUpstream, tmp_path: Path) -> None:
    upstream.contents = ['```\n{"anything": [1, 2]}\n```', "[1, 2]"]
    with run_gateway_in_thread(config(upstream.url, tmp_path / "r.jsonl", max_reasks=0)) as url:
        gateway = client(url).chat.completions
        raw = gateway.with_raw_response.create(
            model="m", messages=CHAT, response_format={"type": "json_object"}
        )
        assert raw.headers["x-slokit-parse"] == "repaired"
        assert raw.parse().choices[0].message.content == '{"anything":[1,2]}'
        raw = gateway.with_raw_response.create(
            model="m", messages=CHAT, response_format={"type": "json_object"}
        )
        assert raw.headers["x-slokit-parse"] == "failed"  # an array is not an object


def test_reask_when_repair_fails_sums_usage(upstream: ContentUpstream, tmp_path: Path) -> None:
    upstream.contents = ["I think it was Ada Lovelace.", VALID]
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(config(upstream.url, log, max_reasks=2)) as base_url:
        raw = client(base_url).chat.completions.with_raw_response.create(
            model="m", messages=CHAT, response_format=JSON_SCHEMA, max_tokens=300
        )
        reply = raw.parse()
        exposition = metrics(base_url)
    assert raw.headers["x-slokit-parse"] == "reasked"
    assert reply.choices[0].message.content == CANONICAL
    # Both calls are paid for: the client's reply carries their summed usage.
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (20, 10)
    assert reply.usage.total_tokens == 30
    first, follow_up = upstream.seen
    assert follow_up["max_tokens"] == 64  # reask_max_tokens, not the client's 300
    assert follow_up["messages"][: len(CHAT)] == CHAT
    assistant, user = follow_up["messages"][len(CHAT) :]
    assert assistant == {"role": "assistant", "content": "I think it was Ada Lovelace."}
    assert "the reply holds no JSON value" in user["content"]
    assert '"required":["name","age"]' in user["content"]  # the schema is quoted
    assert first["max_tokens"] == 300
    assert 'slokit_gateway_reask_calls_total{model="m"} 1.0' in exposition
    assert 'slokit_gateway_structured_total{model="m",parse="reasked"} 1.0' in exposition
    (record,) = records(log)
    assert record.annotations["parse"] == "reasked"
    assert record.annotations["reask_calls"] == 1
    assert record.annotations["reask_tokens"] == 15
    assert record.output_tokens == 10  # the record stage reads the summed usage


def test_failed_reask_returns_the_last_reply(upstream: ContentUpstream, tmp_path: Path) -> None:
    upstream.contents = ["no idea", '{"name": "Ada"}', '{"age": 36}']
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(config(upstream.url, log, max_reasks=2)) as base_url:
        raw = client(base_url).chat.completions.with_raw_response.create(
            model="m", messages=CHAT, response_format=JSON_SCHEMA
        )
        reply = raw.parse()
        exposition = metrics(base_url)
    assert raw.headers["x-slokit-parse"] == "failed"
    assert raw.status_code == 200  # a failed parse is an outcome, not an error
    assert reply.choices[0].message.content == '{"age": 36}'
    assert len(upstream.seen) == 3  # the first call and max_reasks=2 re-asks, no more
    second_follow_up = upstream.seen[2]["messages"][-1]["content"]
    assert "name" in second_follow_up  # the error quoted is the latest reply's
    assert reply.usage is not None
    assert reply.usage.total_tokens == 45
    assert 'slokit_gateway_reask_calls_total{model="m"} 2.0' in exposition
    (record,) = records(log)
    assert record.annotations["parse"] == "failed"
    assert record.annotations["reask_calls"] == 2
    assert "name" in str(record.annotations["parse_error"])


def test_constrained_models_get_the_schema_in_llama_cpp_form(
    upstream: ContentUpstream, tmp_path: Path
) -> None:
    upstream.contents = [VALID]
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(config(upstream.url, log, form="llama_cpp")) as base_url:
        gateway = client(base_url).chat.completions
        raw = gateway.with_raw_response.create(
            model="m", messages=CHAT, response_format=JSON_SCHEMA
        )
        assert raw.headers["x-slokit-parse"] == "valid"
        gateway.create(model="m", messages=CHAT, response_format={"type": "json_object"})
    constrained, plain_object = (body["response_format"] for body in upstream.seen)
    assert constrained == {
        "type": "json_object",
        "schema": PERSON,
        "json_schema": JSON_SCHEMA["json_schema"],
    }
    assert plain_object == {"type": "json_object"}  # nothing to translate
    assert [r.annotations["parse"] for r in records(log)] == ["valid", "valid"]


def test_streams_pass_through_unchanged_and_get_a_verdict(
    upstream: ContentUpstream, tmp_path: Path
) -> None:
    fenced = '```json\n{"name": "Ada", "age": 36}\n```'
    upstream.contents = [VALID, fenced]
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(config(upstream.url, log)) as base_url:
        gateway = client(base_url).chat.completions
        texts = []
        for _ in range(2):
            raw = gateway.with_raw_response.create(
                model="m", messages=CHAT, response_format=JSON_SCHEMA, stream=True
            )
            deltas = [
                chunk.choices[0].delta.content
                for chunk in raw.parse()
                if chunk.choices and chunk.choices[0].delta.content
            ]
            assert "x-slokit-parse" not in raw.headers  # sent before the outcome is known
            assert all(len(delta) <= 4 for delta in deltas)  # the upstream's chunks, as sent
            texts.append("".join(deltas))
        exposition = metrics(base_url)
    # Nothing was buffered, rewritten or re-asked: repair cannot change bytes already sent.
    assert texts == [VALID, fenced]
    assert len(upstream.seen) == 2
    assert [r.annotations["parse"] for r in records(log)] == ["valid", "failed"]
    assert 'slokit_gateway_structured_total{model="m",parse="failed"} 1.0' in exposition


def test_a_stream_left_before_its_end_gets_no_verdict(
    upstream: ContentUpstream, tmp_path: Path
) -> None:
    upstream.contents = [VALID]
    finish_event = -(-len(VALID) // 4)
    # The first stream holds back only [DONE]: its content is complete when the client goes.
    # The second holds after two deltas: the client leaves in the middle of the value.
    upstream.holds = {1: finish_event + 1, 2: 2}
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(config(upstream.url, log)) as base_url:
        gateway = client(base_url).chat.completions
        for stop_after_deltas in (None, 2):
            stream = gateway.create(
                model="m", messages=CHAT, response_format=JSON_SCHEMA, stream=True
            )
            for deltas, chunk in enumerate(stream, start=1):
                if chunk.choices[0].finish_reason or deltas == stop_after_deltas:
                    break
            stream.close()
    first, second = records(log)
    assert first.annotations["parse"] == "valid"
    assert "parse" not in second.annotations


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "objekt"}}},
        {"type": "json_schema", "json_schema": {"name": "p", "schema": {"$ref": "#/nope"}}},
        {"type": "json_schema", "json_schema": {"name": "p", "schema": ["not", "a", "schema"]}},
        {"type": "json_schema", "json_schema": "person"},
        {"type": "json_object", "schema": {"required": "name"}},
    ],
)
def test_malformed_schemas_are_refused(
    upstream: ContentUpstream, tmp_path: Path, response_format: Any
) -> None:
    with (
        run_gateway_in_thread(config(upstream.url, tmp_path / "r.jsonl")) as base_url,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        client(base_url).chat.completions.create(
            model="m", messages=CHAT, response_format=response_format
        )
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_schema"
    assert caught.value.param == "response_format"
    assert upstream.seen == []


def test_other_requests_are_untouched(upstream: ContentUpstream, tmp_path: Path) -> None:
    upstream.contents = ["```json\nnot even json```"]
    log = tmp_path / "requests.jsonl"
    with run_gateway_in_thread(config(upstream.url, log, form="llama_cpp")) as base_url:
        gateway = client(base_url).chat.completions
        for response_format in (None, {"type": "text"}):
            extra = {} if response_format is None else {"response_format": response_format}
            raw = gateway.with_raw_response.create(model="m", messages=CHAT, **extra)
            assert "x-slokit-parse" not in raw.headers
            assert raw.parse().choices[0].message.content == "```json\nnot even json```"
        exposition = metrics(base_url)
    assert [body.get("response_format") for body in upstream.seen] == [None, {"type": "text"}]
    assert "slokit_gateway_structured_total{" not in exposition
    assert all("parse" not in r.annotations for r in records(log))


@pytest.fixture(scope="module")
def local_model() -> Iterator[LocalModelServer]:
    with LocalModelServer() as running:
        yield running


def test_constrained_decoding_on_llama_cpp_gives_valid_json(
    local_model: LocalModelServer, tmp_path: Path
) -> None:
    model = ModelConfig(
        name="local",
        backends=(BackendConfig(url=local_model.base_url, upstream_model=local_model.model),),
        schema_form="llama_cpp",
    )
    log = tmp_path / "requests.jsonl"
    gateway_config = GatewayConfig(models=(model,), telemetry=TelemetryConfig(request_log=log))
    with run_gateway_in_thread(gateway_config) as base_url:
        gateway = client(base_url).chat.completions
        raw = gateway.with_raw_response.create(
            model="local",
            messages=[{"role": "user", "content": "Name a famous scientist and her age."}],
            response_format=JSON_SCHEMA,
            temperature=0,
            max_tokens=80,
        )
        content = raw.parse().choices[0].message.content
        stream = gateway.create(
            model="local",
            messages=[{"role": "user", "content": "Describe a person."}],
            response_format=JSON_SCHEMA,
            temperature=0,
            max_tokens=80,
            stream=True,
        )
        streamed = "".join(
            chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
        )
    # llama-cpp-python answers OpenAI's json_schema form with HTTP 500; the translated form is
    # honoured, and a 135M model's answer comes out valid as it is, streamed or not.
    assert raw.headers["x-slokit-parse"] == "valid"
    assert StructuredParser(PERSON).parse(content or "").action is Action.VALID
    assert StructuredParser(PERSON).parse(streamed).action is Action.VALID
    assert [r.annotations["parse"] for r in records(log)] == ["valid", "valid"]
