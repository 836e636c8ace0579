"""API fuzzing from our own OpenAPI document: no client input may cause a 5xx."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slokit.gateway import BackendConfig, GatewayConfig, ModelConfig, run_gateway_in_thread
from slokit.gateway.openapi import openapi_document

DOCUMENT = openapi_document()
SCHEMAS = DOCUMENT["components"]["schemas"]
ROUTES = {
    "/v1/chat/completions": "ChatCompletionRequest",
    "/v1/completions": "CompletionRequest",
}
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:  # noqa: PLR0911  (one per schema kind)
    """Values valid against the subset of JSON Schema our document uses."""
    if "$ref" in schema:
        return from_schema(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(option) for option in schema["anyOf"]])
    kinds = schema.get("type", "object")
    if isinstance(kinds, list):
        return st.one_of([from_schema({**schema, "type": kind}) for kind in kinds])
    low, high = schema.get("minimum"), schema.get("maximum")
    simple: dict[str, st.SearchStrategy[Any]] = {
        "null": st.none(),
        "boolean": st.booleans(),
        # orjson writes integers of at most 64 bits
        "integer": st.integers(
            min_value=-(2**63) if low is None else low,
            max_value=2**63 - 1 if high is None else high,
        ),
        "number": st.floats(min_value=low, max_value=high, allow_nan=False),
        "string": st.text(min_size=schema.get("minLength", 0), max_size=30),
    }
    if kinds in simple:
        return simple[kinds]
    if kinds == "array":
        return st.lists(
            from_schema(schema.get("items", {})), min_size=schema.get("minItems", 0), max_size=3
        )
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: from_schema(sub) for name, sub in properties.items() if name in required},
        optional={
            name: from_schema(sub) for name, sub in properties.items() if name not in required
        },
    )


def from_request_schema(name: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = {**SCHEMAS[name]}
    # Short replies keep the run quick; the served model name lets most requests go upstream.
    limited = {"type": ["integer", "null"], "minimum": 1, "maximum": 8}
    schema["properties"] = {**schema["properties"], "max_tokens": limited}
    return from_schema(schema).flatmap(lambda body: st.sampled_from([body, {**body, "model": "m"}]))


@pytest.fixture(scope="module")
def connection(emulator: str) -> Iterator[http.client.HTTPConnection]:
    model = ModelConfig(name="m", backends=(BackendConfig(url=emulator),))
    with run_gateway_in_thread(GatewayConfig(models=(model,))) as base_url:
        parts = urlsplit(base_url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        yield connection
        connection.close()


def post(connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


fuzz = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(path=st.sampled_from(sorted(ROUTES)), data=st.data())
def test_schema_shaped_bodies_never_5xx(connection: Any, path: str, data: st.DataObject) -> None:
    body = data.draw(from_request_schema(ROUTES[path]))
    status, reply = post(connection, path, orjson.dumps(body))
    assert status < 500, (body, reply)
    if status >= 400:
        assert set(orjson.loads(reply)["error"]) == {"message", "type", "param", "code"}


@fuzz
@given(path=st.sampled_from([*ROUTES, "/v1/embeddings"]), value=JSON)
def test_arbitrary_json_never_5xx(connection: Any, path: str, value: object) -> None:
    status, _ = post(connection, path, orjson.dumps(value))
    assert status < 500


@fuzz
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_5xx(connection: Any, raw: bytes) -> None:
    status, _ = post(connection, "/v1/chat/completions", raw)
    assert status in (400, 404, 413) or status < 300
