"""OpenTelemetry spans with ``gen_ai.*`` attributes (the ``otel`` extra; off by default)."""

from __future__ import annotations

from typing import Any

from slokit.errors import MissingExtraError
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.wire import ApiError

_OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}


class TracingStage:
    """Opens a span per call, named as the GenAI semantic conventions ask (``chat MODEL``).

    The span covers the pipeline up to the first byte of the reply; stages nested inside show
    their work as events on it.
    """

    __slots__ = ("_trace", "_tracer")

    def __init__(self) -> None:
        try:
            # The optional extra, imported lazily. A plain submodule import: with the SDK
            # installed too, mypy sees ``opentelemetry`` as a namespace without ``trace``.
            import opentelemetry.trace  # noqa: PLC0415
        except ImportError:
            raise MissingExtraError("otel", "opentelemetry") from None
        self._trace: Any = opentelemetry.trace
        self._tracer: Any = opentelemetry.trace.get_tracer("slokit.gateway")

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
            return reply
