"""The OpenAI wire format of the emulator: request validation, replies and stream chunks.

Prompt tokens are counted approximately, as whitespace-separated words of every text in the
request (message contents and text parts, or the prompt; a token-id prompt counts its ids).
Real tokenizers give about 1.3 tokens per English word, so the count is low but proportional,
which is what a timing model that depends on prompt length needs.

The shared prefix, which a serving model with a prefix cache may reuse, is the text that
requests of one application repeat verbatim: a chat request's leading ``system`` (or
``developer``) messages, or a text prompt's first paragraph (up to the first blank line) when
more paragraphs follow. Requests whose prefix texts are equal share a prefix group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

Kind = Literal["chat", "completions"]

#: The reply's text, one word per token, cycled.
_WORDS = ("The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog.")
_PREFIX_ROLES = ("system", "developer")
_PARAGRAPH_BREAK = "\n\n"
_FIRST_TOKEN_JSON = tuple(orjson.dumps(word) for word in _WORDS)
_LATER_TOKEN_JSON = tuple(orjson.dumps(" " + word) for word in _WORDS)

DONE_EVENT = b"data: [DONE]\n\n"


class RequestError(Exception):
    """A request OpenAI would reject with 400; ``param`` names the offending field."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param = param
        self.code = code


def error_body(
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> bytes:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Generation:
    """A validated completion request.

    ``prefix_group`` identifies the prefix text (``None``: no shared prefix) and
    ``prefix_tokens`` counts it; ``user`` is the request's ``user`` field, kept for logs.
    """

    kind: Kind
    model: str
    prompt_tokens: int
    max_tokens: int | None
    stream: bool
    include_usage: bool
    prefix_group: int | None = None
    prefix_tokens: int = 0
    user: str | None = None


def token_text(index: int) -> str:
    """The text of output token ``index``."""
    word = _WORDS[index % len(_WORDS)]
    return word if index == 0 else " " + word


def parse_generation(kind: Kind, body: bytes) -> Generation:
    """Validate a ``chat/completions`` or ``completions`` body; raises :class:`RequestError`."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise RequestError("the request body must be a JSON object")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("you must provide a model parameter", param="model")
    if kind == "chat":
        messages = data.get("messages")
        prompt_tokens = _count_messages(messages)
        prefix = _system_prefix(messages)
        limit = data.get("max_completion_tokens", data.get("max_tokens"))
    else:
        prompt = data.get("prompt")
        prompt_tokens = _count_prompt(prompt)
        prefix = _first_paragraph(prompt)
        limit = data.get("max_tokens")
    if limit is not None and (type(limit) is not int or limit < 1):
        raise RequestError(f"max_tokens must be an integer >= 1, got {limit!r}", param="max_tokens")
    stream = data.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise RequestError("stream must be a boolean", param="stream")
    options = data.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise RequestError(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        if not isinstance(options, dict):
            raise RequestError("stream_options must be an object", param="stream_options")
        include_usage = options.get("include_usage") is True
    choices = data.get("n", 1)
    if choices not in (1, None):
        raise RequestError("the emulator supports only n=1", param="n")
    user = data.get("user")
    prefix_tokens = len(prefix.split()) if prefix else 0
    return Generation(
        kind=kind,
        model=model,
        prompt_tokens=prompt_tokens,
        max_tokens=limit,
        stream=stream,
        include_usage=include_usage,
        prefix_group=hash(prefix) if prefix_tokens else None,
        prefix_tokens=prefix_tokens,
        user=user if isinstance(user, str) else None,
    )


def _system_prefix(messages: Any) -> str:
    """The text of the leading system messages (already validated by ``_count_messages``)."""
    texts: list[str] = []
    for message in messages:
        if message.get("role") not in _PREFIX_ROLES:
            break
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return _PARAGRAPH_BREAK.join(texts)


def _first_paragraph(prompt: Any) -> str:
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        return ""
    head, separator, rest = prompt.partition(_PARAGRAPH_BREAK)
    return head if separator and rest.strip() else ""


def _count_messages(messages: Any) -> int:
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty array", param="messages")
    words = 0
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError(
                f"messages[{index}] must be an object with a 'role'", param=f"messages[{index}]"
            )
        content = message.get("content")
        if isinstance(content, str):
            words += len(content.split())
        elif isinstance(content, list):
            for part in content:
                text = part.get("text") if isinstance(part, dict) else None
                if isinstance(text, str):
                    words += len(text.split())
        elif content is not None:
            raise RequestError(
                f"messages[{index}].content must be a string or an array of parts",
                param=f"messages[{index}].content",
            )
    return words


def _count_prompt(prompt: Any) -> int:
    if isinstance(prompt, str):
        return len(prompt.split())
    if isinstance(prompt, list) and prompt:
        if all(type(item) is int for item in prompt):
            return len(prompt)
        if len(prompt) == 1 and isinstance(prompt[0], str):
            return len(prompt[0].split())
        if len(prompt) == 1 and isinstance(prompt[0], list):
            return len(prompt[0])
        raise RequestError("the emulator supports one prompt per request", param="prompt")
    raise RequestError("prompt must be a string or an array of token ids", param="prompt")


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class ChunkFormat:
    """Server-sent events of one streamed reply, with the constant parts encoded once."""

    __slots__ = ("_common", "_kind", "_token_prefix", "_token_suffix", "_usage_null")

    def __init__(self, generation: Generation, *, reply_id: str, created: int) -> None:
        self._kind = generation.kind
        obj = "chat.completion.chunk" if generation.kind == "chat" else "text_completion"
        self._common = b'{"id":"%s","object":"%s","created":%d,"model":%s,' % (
            reply_id.encode(),
            obj.encode(),
            created,
            orjson.dumps(generation.model),
        )
        # OpenAI puts "usage": null in every chunk when the client asked for usage.
        self._usage_null = b',"usage":null' if generation.include_usage else b""
        if generation.kind == "chat":
            self._token_prefix = b'data: %s"choices":[{"index":0,"delta":{"content":' % (
                self._common
            )
            self._token_suffix = b'},"logprobs":null,"finish_reason":null}]%s}\n\n' % (
                self._usage_null
            )
        else:
            self._token_prefix = b'data: %s"choices":[{"index":0,"text":' % self._common
            self._token_suffix = b',"logprobs":null,"finish_reason":null}]%s}\n\n' % (
                self._usage_null
            )

    def role(self) -> bytes:
        """The chat stream's opening chunk: the role and empty content, no token yet."""
        return b'data: %s"choices":[{"index":0,"delta":{"role":"assistant","content":""},' % (
            self._common
        ) + b'"logprobs":null,"finish_reason":null}]%s}\n\n' % (self._usage_null)

    def token(self, index: int) -> bytes:
        words = _FIRST_TOKEN_JSON if index == 0 else _LATER_TOKEN_JSON
        return self._token_prefix + words[index % len(words)] + self._token_suffix

    def finish(self, reason: str) -> bytes:
        """The chunk carrying ``finish_reason`` and no content."""
        choice = b'"delta":{}' if self._kind == "chat" else b'"text":""'
        return b'data: %s"choices":[{"index":0,%s,"logprobs":null,"finish_reason":"%s"}]%s}\n\n' % (
            self._common,
            choice,
            reason.encode(),
            self._usage_null,
        )

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """The final chunk with the usage and no choices (``stream_options.include_usage``)."""
        return b'data: %s"choices":[],"usage":%s}\n\n' % (
            self._common,
            orjson.dumps(usage(prompt_tokens, completion_tokens)),
        )


def full_reply(
    generation: Generation,
    *,
    reply_id: str,
    created: int,
    output_tokens: int,
    finish_reason: str,
    report_usage: bool,
) -> bytes:
    """The body of a non-streamed reply."""
    text = "".join(token_text(index) for index in range(output_tokens))
    choice: dict[str, Any]
    if generation.kind == "chat":
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    reply: dict[str, Any] = {
        "id": reply_id,
        "object": obj,
        "created": created,
        "model": generation.model,
        "choices": [choice],
    }
    if report_usage:
        reply["usage"] = usage(generation.prompt_tokens, output_tokens)
    return orjson.dumps(reply)
