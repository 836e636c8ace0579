"""Reading a chat stream's events as they pass, split anywhere, with LF or CRLF line ends."""

from __future__ import annotations

import pytest

from slokit.gateway.sse import StreamCollector


def event(data: str) -> bytes:
    return f"data: {data}\r\n\r\n".encode()


@pytest.mark.parametrize("piece", [1, 5, 64])
def test_content_per_choice_and_the_end_are_read_across_any_split(piece: int) -> None:
    stream = b"".join(
        [
            event(
                '{"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"{\\"a\\""}}]}'
            ),
            event('{"choices":[{"index":1,"delta":{"content":"[1"}}]}'),
            event('{"choices":[{"index":0,"delta":{"content":": 1}"}}]}'),
            event('{"choices":[{"index":1,"delta":{"content":"]"},"finish_reason":"stop"}]}'),
        ]
    )
    collector = StreamCollector(b"")
    for start in range(0, len(stream), piece):
        collector.feed(stream[start : start + piece])
    collector.end()
    assert collector.texts() == {0: '{"a": 1}', 1: "[1]"}
    assert collector.finished


def test_done_marks_the_end_and_broken_events_are_skipped() -> None:
    collector = StreamCollector(b"data: {not json}\n\n")
    collector.feed(b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\ndata: [DONE]')
    assert not collector.finished  # the last line has not ended yet
    collector.end()
    assert collector.finished
    assert collector.texts() == {0: "x"}
