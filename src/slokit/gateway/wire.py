"""The OpenAI wire format at the gateway's edge: request checks and error bodies.

Requests are checked for the few fields the gateway acts on (``model``, ``stream``,
``max_tokens``, the prompt's shape); everything else passes to the upstream untouched.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson

from slokit.errors import SlokitError

Endpoint = Literal["chat", "completions", "embeddings"]

#: Upstream path (after the base URL's /v1) of each endpoint.
UPSTREAM_PATHS: dict[Endpoint, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
}
_PROMPT_FIELD: dict[Endpoint, str] = {
    "chat": "messages",
    "completions": "prompt",
    "embeddings": "input",
}


class ApiError(SlokitError):
    """A request the gateway answers with an error status and an OpenAI-style body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.retry_after_s = retry_after_s

    def body(self) -> bytes:
        return error_body(self.message, self.error_type, code=self.code, param=self.param)


def error_body(
    message: str, error_type: str, *, code: str | None = None, param: str | None = None
) -> bytes:
    """``{"error": {"message", "type", "param", "code"}}`` as OpenAI writes it."""
    error = {"message": message, "type": error_type, "param": param, "code": code}
    return orjson.dumps({"error": error})


def _bad(message: str, param: str | None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def parse_request(endpoint: Endpoint, body: bytes) -> dict[str, Any]:
    """The JSON object of a request, with the fields the gateway uses checked."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _bad("the request body is not valid JSON", None, "invalid_json") from None
    if not isinstance(payload, dict):
        raise _bad("the request body must be a JSON object", None, "invalid_type")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a non-empty string", "model")
    prompt_field = _PROMPT_FIELD[endpoint]
    prompt = payload.get(prompt_field)
    if endpoint == "chat":
        if not isinstance(prompt, list) or not prompt:
            raise _bad("'messages' must be a non-empty array of messages", "messages")
        if not all(isinstance(message, dict) for message in prompt):
            raise _bad("each of 'messages' must be an object with 'role' and 'content'", "messages")
    elif not isinstance(prompt, str | list) or (isinstance(prompt, list) and not prompt):
        raise _bad(f"'{prompt_field}' must be a string or a non-empty array", prompt_field)
    stream = payload.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _bad("'stream' must be true or false", "stream")
    if endpoint == "embeddings" and stream:
        raise _bad("embeddings cannot be streamed", "stream")
    for limit in ("max_tokens", "max_completion_tokens"):
        value = payload.get(limit)
        if value is not None and (type(value) is not int or value < 1):
            raise _bad(f"'{limit}' must be a whole number >= 1", limit)
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("'stream_options' must be an object", "stream_options")
    return payload


def prompt_size(payload: dict[str, Any]) -> int:
    """A rough prompt length in tokens (4 characters each) for rate limits before usage is known."""
    for field in ("messages", "prompt", "input"):
        value = payload.get(field)
        if isinstance(value, str):
            return len(value) // 4 + 1
        if isinstance(value, list):
            return sum(len(str(item)) for item in value) // 4 + 1
    return 1


#: What the stages read from a reply without decoding it: content-bearing stream events and
#: the ``usage`` object's token counts (OpenAI puts usage last: a body's tail holds it).
CONTENT_EVENT = re.compile(rb'"(?:content|text)":\s*"[^"]')
PROMPT_TOKENS = re.compile(rb'"prompt_tokens":\s*(\d+)')
COMPLETION_TOKENS = re.compile(rb'"completion_tokens":\s*(\d+)')


def usage_tokens(data: bytes) -> tuple[int | None, int | None]:
    """``(prompt_tokens, completion_tokens)`` from a reply or chunk holding ``usage``."""
    prompt = PROMPT_TOKENS.search(data)
    output = COMPLETION_TOKENS.search(data)
    return (int(prompt[1]) if prompt else None, int(output[1]) if output else None)
