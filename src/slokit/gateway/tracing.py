"""OpenTelemetry spans with ``gen_ai.*`` attributes (the ``otel`` extra; off by default)."""

from __future__ import annotations

from typing import Any

from slokit.errors import MissingExtraError
from slokit.gateway.pipeline import Call, Handler, Reply, Stage
from slokit.gateway.wire import ApiError

_OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}


def _opentelemetry_trace() -> Any:
    try:
        # The optional extra, imported lazily. A plain submodule import: with the SDK
        # installed too, mypy sees ``opentelemetry`` as a namespace without ``trace``.
        import opentelemetry.trace  # noqa: PLC0415
    except ImportError:
        raise MissingExtraError("otel", "opentelemetry") from None
    return opentelemetry.trace


class TracingStage:
    """Opens a span per call, named as the GenAI semantic conventions ask (``chat MODEL``).

    The span covers the pipeline up to the first byte of the reply. Each stage inside it gets
    a child span (:class:`StageSpan`), so a trace shows where the time before the first byte
    went. What the stages decided (route, cache, parse outcome) lands as ``slokit.*``
    attributes; the model that served the call as ``gen_ai.response.model``.
    """

    __slots__ = ("_trace", "_tracer")

    def __init__(self) -> None:
        self._trace: Any = _opentelemetry_trace()
        self._tracer: Any = self._trace.get_tracer("slokit.gateway")

    async def handle(self, call: Call, forward: Handler) -> Reply:
        operation = _OPERATIONS[call.endpoint]
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": call.model.name,
            "gen_ai.system": "openai",
        }
        max_tokens = call.payload.get("max_tokens")
        if isinstance(max_tokens, int):
            attributes["gen_ai.request.max_tokens"] = max_tokens
        with self._tracer.start_as_current_span(
            f"{operation} {call.model.name}",
            kind=self._trace.SpanKind.SERVER,
            attributes=attributes,
        ) as span:
            try:
                reply = await forward(call)
            except ApiError as error:
                span.set_attribute("error.type", error.code or error.error_type)
                span.set_attribute("http.response.status_code", error.status)
                raise
            span.set_attribute("http.response.status_code", reply.status)
            if call.tenant is not None:
                span.set_attribute("slokit.tenant", call.tenant.name)
            if call.replica is not None:
                span.set_attribute("slokit.replica", call.replica)
            if call.admitted_s is not None:
                span.set_attribute("slokit.queue_wait_s", call.admitted_s - call.received_s)
            span.set_attribute("gen_ai.response.model", call.model.name)
            for key, value in call.annotations.items():
                span.set_attribute(f"slokit.{key}", value)
            return reply


class StageSpan:
    """One stage inside a child span ``slokit.stage NAME`` (covering the stages it wraps)."""

    __slots__ = ("_name", "_stage", "_tracer")

    def __init__(self, stage: Stage, name: str) -> None:
        self._stage = stage
        self._name = f"slokit.stage {name}"
        self._tracer: Any = _opentelemetry_trace().get_tracer("slokit.gateway")

    async def handle(self, call: Call, forward: Handler) -> Reply:
        with self._tracer.start_as_current_span(self._name):
            return await self._stage.handle(call, forward)


def traced(stages: list[Stage]) -> list[Stage]:
    """The request span first, then every stage in a child span named after it."""
    named = [StageSpan(stage, _stage_name(stage)) for stage in stages]
    return [TracingStage(), *named]


def _stage_name(stage: Stage) -> str:
    return type(stage).__name__.removesuffix("Stage").lower()
