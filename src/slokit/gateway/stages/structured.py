"""Structured output: requests with a JSON ``response_format`` get valid JSON or a clear outcome.

A chat request whose ``response_format`` is ``json_schema`` or ``json_object`` goes up in the
form the model's backends constrain decoding with (``schema_form``: as the client wrote it,
llama.cpp's form, or left out). A whole reply is then parsed on the CPU
(:class:`slokit.structured.StructuredParser`): strict JSON that validates is ``valid``; one
the parser fixes is ``repaired`` or ``coerced`` and its content is rewritten to the canonical
JSON; one it cannot fix is re-asked through the backend under the
:class:`slokit.structured.ReaskSession` budget (``reasked`` when that works, ``failed``
otherwise). A stream passes through untouched and is only judged at its end (``valid`` or
``failed``): bytes already sent cannot be repaired. docs/structured.md, "In the gateway".
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Final

import orjson
from prometheus_client import Counter

from slokit.errors import ConfigError
from slokit.gateway.config import StructuredStageConfig
from slokit.gateway.pipeline import Call, Handler, Reply
from slokit.gateway.sse import StreamCollector
from slokit.gateway.telemetry import Telemetry
from slokit.gateway.wire import ApiError
from slokit.structured import Action, ModelReply, ReaskConfig, ReaskSession, StructuredParser

_ANY_OBJECT: Final[dict[str, object]] = {"type": "object"}
#: Compiled parsers kept per distinct schema; clients usually send a handful of schemas.
_PARSER_CACHE_SIZE: Final = 256
#: How bad each outcome is: a request with several choices reports its worst.
_RANK: Final = {
    Action.VALID: 0,
    Action.REPAIRED: 1,
    Action.COERCED: 2,
    Action.REASKED: 3,
    Action.FAILED: 4,
}
_HEADER: Final = b"x-slokit-parse"
_MAX_ERROR_CHARS: Final = 300
#: The re-ask budget counts prompt tokens too, but the prompt is the client's conversation:
#: the gateway bounds the calls and each call's output (``max_reasks`` x
#: ``reask_max_tokens``), reports the total, and does not cap it further.
_UNCAPPED_TOTAL_TOKENS: Final = 2**62


class StructuredStage:
    """Constrains, repairs, re-asks and records the parse outcome of JSON-format chat calls."""

    __slots__ = ("_config", "_counters", "_parsers", "_reask_config", "_telemetry")

    def __init__(self, config: StructuredStageConfig, telemetry: Telemetry) -> None:
        self._config = config
        self._telemetry = telemetry
        self._parsers: OrderedDict[bytes, StructuredParser] = OrderedDict()
        self._counters: dict[tuple[str, str], Counter] = {}
        self._reask_config = (
            ReaskConfig(
                max_attempts=config.max_reasks,
                max_completion_tokens=config.reask_max_tokens,
                max_total_tokens=_UNCAPPED_TOTAL_TOKENS,
            )
            if config.max_reasks > 0
            else None
        )

    async def handle(self, call: Call, forward: Handler) -> Reply:
        response_format = call.payload.get("response_format")
        if response_format is None or call.endpoint != "chat":
            return await forward(call)
        wanted = _read_format(response_format)
        if wanted is None:
            return await forward(call)
        schema, constraint = wanted
        parser = self._parser(schema)
        original = (call.payload, call.body)
        form = call.model.schema_form
        if form == "llama_cpp" and constraint is not None:
            call.set_payload({**call.payload, "response_format": constraint})
        elif form == "none":
            call.set_payload({k: v for k, v in call.payload.items() if k != "response_format"})
        try:
            reply = await forward(call)
            if reply.chunks is not None:
                if reply.status < 300:
                    check = _StreamCheck(self, call, parser, reply.body)
                    reply.watch(on_chunk=check.on_chunk, on_end=check.on_end)
                return reply
            if reply.status == 200:
                await self._settle(call, reply, parser, forward)
            return reply
        finally:
            call.payload, call.body = original

    def _parser(self, schema: dict[str, object]) -> StructuredParser:
        try:
            key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as error:
            raise _invalid_schema(str(error)) from None
        parser = self._parsers.get(key)
        if parser is not None:
            self._parsers.move_to_end(key)
            return parser
        try:
            parser = StructuredParser(schema)
        except ConfigError as error:
            raise _invalid_schema(str(error)) from None
        self._parsers[key] = parser
        if len(self._parsers) > _PARSER_CACHE_SIZE:
            self._parsers.popitem(last=False)
        return parser

    async def _settle(
        self, call: Call, reply: Reply, parser: StructuredParser, forward: Handler
    ) -> None:
        """Parse each choice of a whole reply; repair, re-ask, rewrite the body as needed."""
        try:
            body = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            self.record(call, Action.FAILED, "the upstream's reply is not JSON", header=True)
            return
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(choices, list) or not choices:
            self.record(call, Action.FAILED, "the upstream's reply has no choices", header=True)
            return
        worst, first_error = Action.VALID, ""
        changed = False
        reasks = _Reasks(self, call, forward)
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, str) or message is None:
                # A refusal or a tool call: nothing to repair, and not the model's to redo.
                action, error = Action.FAILED, "the reply has no text content"
            else:
                action, error, text = await reasks.settle(parser, content, choice)
                if text is not None:
                    message["content"] = text
                    changed = True
            if _RANK[action] > _RANK[worst]:
                worst = action
            first_error = first_error or error
        if reasks.calls:
            _add_usage(body, reasks.prompt_tokens, reasks.completion_tokens)
            call.annotations["reask_calls"] = reasks.calls
            call.annotations["reask_tokens"] = reasks.prompt_tokens + reasks.completion_tokens
            changed = True
        if changed:
            reply.body = orjson.dumps(body)
        self.record(call, worst, first_error, header=True)

    def record(self, call: Call, action: Action, error: str, *, header: bool) -> None:
        """Annotate the call with its outcome, count it, and (whole replies) say it in a header."""
        outcome = action.value
        call.annotations["parse"] = outcome
        if error and action is Action.FAILED:
            call.annotations["parse_error"] = error[:_MAX_ERROR_CHARS]
        if header:
            call.response_headers.append((_HEADER, outcome.encode()))
        key = (call.model.name, outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._telemetry.structured.labels(*key)
        counter.inc()

    @property
    def reask_config(self) -> ReaskConfig | None:
        return self._reask_config

    @property
    def telemetry(self) -> Telemetry:
        return self._telemetry


def _read_format(response_format: object) -> tuple[dict[str, object], dict[str, Any] | None] | None:
    """The schema a JSON ``response_format`` asks for and the constraint to send upstream
    (None: send it as it is); None for any other format.

    The constraint is llama.cpp's form, ``{"type": "json_object", "schema": ...}``, which
    llama-cpp-python's server requires (it answers ``json_schema`` with HTTP 500) and
    llama.cpp's own server, vLLM and SGLang accept; OpenAI's ``json_schema`` member is kept
    beside it for servers that read it. vLLM and SGLang constrain that form to a JSON object,
    not to the schema: the CPU validates the rest.
    """
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            raise _invalid_schema("'response_format.json_schema' must be an object")
        schema = spec.get("schema", _ANY_OBJECT)
        if not isinstance(schema, dict):
            raise _invalid_schema("the schema must be a JSON object")
        return schema, {**response_format, "type": "json_object", "schema": schema}
    if kind == "json_object":
        # Already the constrained form (or no schema to constrain to): it goes up as it is.
        schema = response_format.get("schema", _ANY_OBJECT)
        if not isinstance(schema, dict):
            raise _invalid_schema("the schema must be a JSON object")
        return schema, None
    return None


def _invalid_schema(reason: str) -> ApiError:
    return ApiError(
        400,
        f"'response_format' does not hold a usable JSON Schema: {reason}",
        param="response_format",
        code="invalid_schema",
    )


def _canonical(value: object) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # Integers past 64 bits, which orjson refuses and JSON allows.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _add_usage(body: dict[str, Any], prompt_tokens: int, completion_tokens: int) -> None:
    """Add the re-asks' tokens to the reply's usage, so that its cost is what was spent."""
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return
    for name, extra in (
        ("prompt_tokens", prompt_tokens),
        ("completion_tokens", completion_tokens),
        ("total_tokens", prompt_tokens + completion_tokens),
    ):
        value = usage.get(name)
        if isinstance(value, int):
            usage[name] = value + extra


class _Reasks:
    """One request's CPU parses and re-asks; the budget (``max_reasks``) spans its choices."""

    __slots__ = ("_call", "_forward", "_stage", "calls", "completion_tokens", "prompt_tokens")

    def __init__(self, stage: StructuredStage, call: Call, forward: Handler) -> None:
        self._stage = stage
        self._call = call
        self._forward = forward
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    async def settle(
        self, parser: StructuredParser, content: str, choice: dict[str, Any]
    ) -> tuple[Action, str, str | None]:
        """The choice's outcome, its first error, and its new content (None: unchanged)."""
        config = self._stage.reask_config
        left = 0 if config is None else config.max_attempts - self.calls
        if config is None or left <= 0:
            result = parser.parse(content)
            session = None
        else:
            # The session's own first parse is the CPU attempt: the reply is parsed once.
            session = ReaskSession(
                parser,
                self._call.payload["messages"],
                content,
                ReaskConfig(
                    max_attempts=left,
                    max_completion_tokens=config.max_completion_tokens,
                    max_total_tokens=config.max_total_tokens,
                ),
            )
            result = session.result
        if result.ok:
            if result.action is Action.VALID:
                return result.action, "", None
            return result.action, "", _canonical(result.value)
        if session is None:
            return result.action, result.errors[0] if result.errors else "", None
        last_text: str | None = None
        while (step := session.next_messages()) is not None:
            answer = await self._ask(*step)
            if answer is None:
                break
            reply, finish_reason = answer
            result = session.record(reply)
            last_text = reply.text
            choice["finish_reason"] = finish_reason
        self.prompt_tokens += session.prompt_tokens
        self.completion_tokens += session.completion_tokens
        if result.ok:
            return result.action, "", _canonical(result.value)
        # The model's last reply goes back as it came: the client sees what the model said.
        return Action.FAILED, result.errors[0] if result.errors else "", last_text

    async def _ask(self, messages: list[Any], max_tokens: int) -> tuple[ModelReply, object] | None:
        """One follow-up call straight to the backend; None when it did not answer 200."""
        call = self._call
        saved = (call.payload, call.body, call.stream)
        payload = {**call.payload, "messages": messages}
        payload.pop("stream", None)
        payload.pop("stream_options", None)
        if "n" in payload:
            payload["n"] = 1
        limit = "max_completion_tokens" if "max_completion_tokens" in payload else "max_tokens"
        payload[limit] = max_tokens
        call.set_payload(payload)
        self.calls += 1
        self._stage.telemetry.reask_calls.labels(call.model.name).inc()
        try:
            reply = await self._forward(call)
        except ApiError:
            return None
        finally:
            call.payload, call.body, call.stream = saved
        if reply.chunks is not None:  # pragma: no cover - the payload asked for no stream
            reply.close()
            return None
        if reply.status != 200:
            return None
        try:
            body = orjson.loads(reply.body)
            choice = body["choices"][0]
            text = choice["message"]["content"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return None
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        return ModelReply(
            text=text if isinstance(text, str) else "",
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
        ), choice.get("finish_reason")


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


class _StreamCheck:
    """Follows a stream's content per choice through hooks and judges it at the end.

    The text is gathered and parsed once at the end: the verdict needs the whole value, and
    :class:`slokit.structured.StreamingParser` per chunk would cost more for nothing the
    client could use (the chunks have gone). Only strict JSON that validates counts as
    ``valid``: what the client received was not repaired.
    """

    __slots__ = ("_call", "_parser", "_stage", "_stream", "on_chunk")

    def __init__(
        self, stage: StructuredStage, call: Call, parser: StructuredParser, first: bytes
    ) -> None:
        self._stage = stage
        self._call = call
        self._parser = parser
        self._stream = StreamCollector(first)
        self.on_chunk = self._stream.feed

    def on_end(self, failure: ApiError | None, aborted: bool) -> None:  # noqa: FBT001
        stream = self._stream
        stream.end()
        if (aborted or self._call.disconnected) and not stream.finished:
            return  # the client left: no verdict on a reply nobody read to its end
        if failure is not None:
            self._stage.record(self._call, Action.FAILED, failure.message, header=False)
            return
        texts = [text for text in stream.texts().values() if text]
        if not texts:
            self._stage.record(
                self._call, Action.FAILED, "the reply holds no JSON value", header=False
            )
            return
        for text in texts:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                self._stage.record(
                    self._call, Action.FAILED, "the streamed reply is not strict JSON", header=False
                )
                return
            errors = self._parser.validate(value)
            if errors:
                self._stage.record(self._call, Action.FAILED, errors[0], header=False)
                return
        self._stage.record(self._call, Action.VALID, "", header=False)
