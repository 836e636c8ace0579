"""OpenTelemetry: a span per request with gen_ai.* attributes, a child span per stage."""

from __future__ import annotations

from dataclasses import replace

import openai
import pytest

from slokit.gateway import BackendConfig, GatewayConfig, ModelConfig, run_gateway_in_thread
from slokit.gateway.config import CacheStageConfig, TelemetryConfig

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="the 'otel' extra")
export = pytest.importorskip("opentelemetry.sdk.trace.export")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
trace = pytest.importorskip("opentelemetry.trace")


@pytest.fixture(scope="module")
def spans() -> in_memory.InMemorySpanExporter:
    exporter = in_memory.InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process: the API's global
    return exporter


def test_a_request_span_with_a_child_span_per_stage(
    emulator: str, spans: in_memory.InMemorySpanExporter
) -> None:
    model = ModelConfig(name="m", backends=(BackendConfig(url=emulator),))
    config = GatewayConfig(models=(model,), telemetry=TelemetryConfig(tracing=True))
    config = replace(config, cache=CacheStageConfig())
    spans.clear()
    with (
        run_gateway_in_thread(config) as base_url,
        openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as client,
    ):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], temperature=0, max_tokens=3
        )
    finished = spans.get_finished_spans()
    by_name = {span.name: span for span in finished}
    request = by_name["chat m"]
    assert request.attributes["gen_ai.operation.name"] == "chat"
    assert request.attributes["gen_ai.request.model"] == "m"
    assert request.attributes["gen_ai.response.model"] == "m"
    assert request.attributes["gen_ai.request.max_tokens"] == 3
    assert request.attributes["slokit.cache"] == "miss"
    assert request.attributes["http.response.status_code"] == 200
    stages = [name for name in by_name if name.startswith("slokit.stage ")]
    assert sorted(stages) == [
        "slokit.stage cache",
        "slokit.stage record",
        "slokit.stage structured",
    ]
    record = by_name["slokit.stage record"]
    cache = by_name["slokit.stage cache"]
    # Nested as the pipeline is: request > record > cache > structured, one trace.
    assert record.parent.span_id == request.context.span_id
    assert cache.parent.span_id == record.context.span_id
    assert by_name["slokit.stage structured"].parent.span_id == cache.context.span_id
    assert {span.context.trace_id for span in finished} == {request.context.trace_id}
