"""Reading an OpenAI chat stream's server-sent events as they pass (never delaying them)."""

from __future__ import annotations

from typing import Any

import orjson


class StreamCollector:
    """Rebuilds a ``chat.completion`` from a stream's SSE events, to store a streamed reply."""

    __slots__ = ("_buffer", "_choices", "_header", "_usage", "finished")

    def __init__(self, first: bytes) -> None:
        self._buffer = b""
        self._choices: dict[int, dict[str, Any]] = {}
        self._header: dict[str, Any] = {}
        self._usage: Any = None
        #: ``[DONE]`` or a finish reason arrived: the content is complete, even if the client
        #: leaves before the upstream's connection ends.
        self.finished = False
        self.feed(first)

    def feed(self, chunk: bytes) -> None:
        """One chunk as it passes; events may split anywhere (one ``data:`` line each)."""
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                self._data(line[5:].strip())

    def end(self) -> None:
        """Read what is left in the buffer: a last event without its line end."""
        rest, self._buffer = self._buffer, b""
        if rest.startswith(b"data:"):
            self._data(rest[5:].strip())

    def texts(self) -> dict[int, str]:
        """Each choice's content so far, by choice index."""
        return {index: "".join(state["content"]) for index, state in self._choices.items()}

    def _data(self, data: bytes) -> None:
        if data == b"[DONE]":
            self.finished = True
            return
        if not data:
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        if not self._header:
            self._header = {k: event.get(k) for k in ("id", "created", "model")}
        if event.get("usage"):
            self._usage = event["usage"]
        choices = event.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            index = index if isinstance(index, int) else 0
            state = self._choices.setdefault(index, {"content": [], "finish_reason": None})
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            if isinstance(delta.get("content"), str):
                state["content"].append(delta["content"])
            if delta.get("tool_calls") is not None:
                state["tool_calls"] = True  # tool-call deltas are not rebuilt: never stored
            if choice.get("finish_reason") is not None:
                state["finish_reason"] = choice["finish_reason"]
                self.finished = True

    def completion(self) -> dict[str, Any] | None:
        """The whole reply, or None when it cannot be rebuilt exactly (no choices, tool calls)."""
        self.end()
        if not self._choices or any("tool_calls" in s for s in self._choices.values()):
            return None
        body: dict[str, Any] = {
            "id": self._header.get("id"),
            "object": "chat.completion",
            "created": self._header.get("created"),
            "model": self._header.get("model"),
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": "".join(state["content"])},
                    "finish_reason": state["finish_reason"],
                }
                for index, state in sorted(self._choices.items())
            ],
        }
        if self._usage is not None:
            body["usage"] = self._usage
        return body
