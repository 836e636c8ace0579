"""Incremental parsing of a streamed JSON answer: feed chunks, read the best partial value.

One pass over the text, whatever the chunking: each character is looked at once, and runs
of string content are taken by a compiled pattern. Completed values are final; the value
under construction is shown as far as it is certain: a partial string as received, an
unfinished number or literal (``12`` may become ``123``, ``tr`` ``true``) left out, like a
key whose value has not begun. Prose or a code fence before the value is skipped, anything
after it ignored. The final text should still go through :class:`StructuredParser`, which
repairs, coerces and validates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final

import orjson

from slokit.structured.result import JSONValue

_OPENER = re.compile(r"[{\[]")
_STRING_RUN = re.compile(r'[^"\\]+')
_SPACE: Final = frozenset(" \t\r\n")
_TOKEN_START: Final = frozenset("-0123456789tfn")
_TOKEN_CHARS: Final = frozenset("-+.eE0123456789truefalsn")
_LITERALS: Final[dict[str, JSONValue]] = {"true": True, "false": False, "null": None}


@dataclass(slots=True)
class _Frame:
    container: dict[str, JSONValue] | list[JSONValue]
    key: str | None = None
    awaiting_value: bool = False


@dataclass(slots=True)
class _Leaf:
    """The string or bare token being read."""

    raw: list[str] = field(default_factory=list)
    is_string: bool = True
    is_key: bool = False
    escaped: bool = False


class StreamingParser:
    """Push parser for one JSON value arriving in pieces."""

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._stack: list[_Frame] = []
        self._leaf: _Leaf | None = None
        self._started = False
        self._root: JSONValue = None
        self._done = False
        self._broken = False

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return "".join(self._chunks)

    @property
    def done(self) -> bool:
        """The top-level value is complete."""
        return self._done

    @property
    def broken(self) -> bool:
        """The text stopped being JSON; :attr:`value` keeps the last value before that."""
        return self._broken

    @property
    def value(self) -> JSONValue:
        """The best value so far: None before the first ``{`` or ``[``."""
        if self._done:
            return self._root
        if not self._stack:
            return None
        partial = self._partial_leaf()
        for frame in reversed(self._stack):
            container = frame.container
            copied: dict[str, JSONValue] | list[JSONValue]
            if isinstance(container, dict):
                copied = dict(container)
                if partial is not _NONE and frame.key is not None and frame.awaiting_value:
                    copied[frame.key] = partial
            else:
                copied = list(container)
                if partial is not _NONE:
                    copied.append(partial)
            partial = copied
        return partial

    def feed(self, chunk: str) -> JSONValue:
        """Take the next piece of text and return :attr:`value`."""
        self._chunks.append(chunk)
        index = 0
        end = len(chunk)
        while index < end and not (self._done or self._broken):
            if not self._started:
                match = _OPENER.search(chunk, index)
                if match is None:
                    break
                self._started = True
                index = match.start()
            leaf = self._leaf
            if leaf is not None and leaf.is_string:
                index = self._string(chunk, index, leaf)
                continue
            char = chunk[index]
            if leaf is not None:
                if char in _TOKEN_CHARS:
                    leaf.raw.append(char)
                    index += 1
                    continue
                self._leaf = None
                self._finish_token("".join(leaf.raw))
                continue  # the delimiter is handled on the next turn
            self._structure(char)
            index += 1
        return self.value

    def _string(self, chunk: str, index: int, leaf: _Leaf) -> int:
        if leaf.escaped:
            leaf.raw.append(chunk[index])
            leaf.escaped = False
            return index + 1
        run = _STRING_RUN.match(chunk, index)
        if run is not None:
            leaf.raw.append(run.group())
            return run.end()
        char = chunk[index]
        if char == "\\":
            leaf.raw.append(char)
            leaf.escaped = True
            return index + 1
        self._leaf = None  # the closing quote
        text = _decode("".join(leaf.raw))
        if text is None:
            self._broken = True
        elif leaf.is_key:
            frame = self._stack[-1]
            frame.key = text
        else:
            self._deliver(text)
        return index + 1

    def _structure(self, char: str) -> None:
        if char in _SPACE or char == ",":
            return
        frame = self._stack[-1] if self._stack else None
        if char in "{[":
            self._stack.append(_Frame({} if char == "{" else []))
        elif char in "}]":
            self._close(frame, char)
        elif char == ":" and frame is not None and frame.key is not None:
            frame.awaiting_value = True
        elif char == '"':
            is_key = (
                frame is not None and isinstance(frame.container, dict) and not frame.awaiting_value
            )
            self._leaf = _Leaf(is_key=is_key)
        elif char in _TOKEN_START:
            self._leaf = _Leaf(raw=[char], is_string=False)
        else:
            self._broken = True

    def _close(self, frame: _Frame | None, char: str) -> None:
        expected = "}" if frame is not None and isinstance(frame.container, dict) else "]"
        if frame is None or char != expected:
            self._broken = True
            return
        self._stack.pop()
        self._deliver(frame.container)

    def _finish_token(self, token: str) -> None:
        if token in _LITERALS:
            self._deliver(_LITERALS[token])
            return
        try:
            # json, not orjson: it keeps integers past 64 bits exact.
            number = json.loads(token)
        except ValueError:
            self._broken = True
            return
        self._deliver(number)

    def _deliver(self, value: JSONValue) -> None:
        if not self._stack:
            self._root = value
            self._done = True
            return
        frame = self._stack[-1]
        container = frame.container
        if isinstance(container, list):
            container.append(value)
        elif frame.key is not None and frame.awaiting_value:
            container[frame.key] = value
            frame.key = None
            frame.awaiting_value = False
        else:
            self._broken = True

    def _partial_leaf(self) -> object:
        leaf = self._leaf
        if leaf is None or leaf.is_key:
            return _NONE
        raw = "".join(leaf.raw)
        if not leaf.is_string:
            # A literal cannot grow once complete; a number can.
            return _LITERALS.get(raw, _NONE)
        # Drop an escape sequence cut in the middle (a lone backslash, half of \\uXXXX).
        cut = raw.rfind("\\")
        if cut >= 0 and len(raw) - cut < 6:
            decoded = _decode(raw)
            return decoded if decoded is not None else _decode(raw[:cut])
        return _decode(raw)


_NONE: Final = object()


def _decode(raw: str) -> str | None:
    try:
        text = orjson.loads(f'"{raw}"')
    except orjson.JSONDecodeError:
        try:
            # Raw control characters (a newline inside a string) are common in model text.
            text = json.loads(f'"{raw}"', strict=False)
        except ValueError:
            return None
    return text if isinstance(text, str) else None
