"""What the gateway's structured stage adds per request, on the CPU, without the network.

The stage runs in-process around a terminal that returns a prepared upstream reply at once,
so the time measured is the stage's own: the pass-through check of a request without
``response_format``, the parse of a valid, a fenced (repaired) and a numbers-as-strings
(coerced) reply under a small schema, and a 50-chunk stream followed through the watch hooks
(each chunk's hook and the verdict at the end; "stream pass-through", the same stream without
``response_format``, is the loop's own cost to subtract). Cases are interleaved round by round;
medians in microseconds per request.

Run: ``.venv/bin/python benchmarks/structured_gateway.py``; it writes
benchmarks/results/structured_gateway.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson

from slokit.gateway.config import BackendConfig, ModelConfig, StructuredStageConfig
from slokit.gateway.pipeline import Call, Reply
from slokit.gateway.stages.structured import StructuredStage
from slokit.gateway.telemetry import Telemetry
from slokit.results import write_json_atomic

RESULTS = Path(__file__).parent / "results" / "structured_gateway.json"
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}
MODEL = ModelConfig(name="m", backends=(BackendConfig(url="http://127.0.0.1:1/v1"),))
CONTENTS = {
    "valid": '{"name": "Ada", "age": 36, "tags": ["math", "poetry"]}',
    "repaired": 'Here it is:\n```json\n{"name": "Ada", "age": 36, "tags": ["math"]}\n```',
    "coerced": '{"name": "Ada", "age": "36", "tags": "math"}',
}
STREAM_CHUNKS = 50
STREAMED = orjson.dumps(
    {"name": "Ada", "age": 36, "tags": [f"tag {i}" for i in range(25)]}
).decode()


def whole_body(content: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 20, "total_tokens": 40},
        }
    )


def stream_chunks(content: str) -> list[bytes]:
    step = max(1, len(content) // STREAM_CHUNKS)
    chunks = []
    for start in range(0, len(content), step):
        event = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": content[start : start + step]}}],
        }
        chunks.append(b"data: " + orjson.dumps(event) + b"\n\n")
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def make_call(payload: dict[str, Any]) -> Call:
    return Call(
        request_id=0,
        endpoint="chat",
        body=orjson.dumps(payload),
        payload=payload,
        model=MODEL,
        headers={},
        received_s=0.0,
    )


async def run_case(stage: StructuredStage, case: str, repeat: int) -> float:
    """Microseconds per request of ``repeat`` requests of one case."""
    messages = [{"role": "user", "content": "Who was Ada Lovelace? JSON please."}]
    payload: dict[str, Any] = {"model": "m", "messages": messages}
    if "pass-through" not in case:
        payload["response_format"] = FORMAT
    streamed = case.startswith("stream")
    content = CONTENTS.get(case, CONTENTS["valid"])
    body = whole_body(content)
    chunks = stream_chunks(STREAMED)

    async def terminal(call: Call) -> Reply:
        del call
        if not streamed:
            return Reply(status=200, content_type="application/json", body=body)
        return Reply(status=200, content_type="text/event-stream", body=chunks[0], chunks=rest())

    async def rest() -> AsyncIterator[bytes]:
        for chunk in chunks[1:]:
            yield chunk

    started = time.perf_counter()
    for _ in range(repeat):
        call = make_call(payload)
        reply = await stage.handle(call, terminal)
        if reply.chunks is not None:
            hooks = reply.chunk_hooks
            async for chunk in reply.chunks:
                for hook in hooks:
                    hook(chunk)
            for end in reply.end_hooks:
                end(None, False)
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    stage = StructuredStage(StructuredStageConfig(max_reasks=1), Telemetry())
    cases = [
        "pass-through",
        "valid",
        "repaired",
        "coerced",
        "stream pass-through",
        "stream (50 chunks)",
    ]
    samples: dict[str, list[float]] = {case: [] for case in cases}
    run: Callable[[str], float] = lambda case: asyncio.run(run_case(stage, case, args.repeat))  # noqa: E731
    for _ in range(args.rounds):
        for case in cases:
            samples[case].append(run(case))
    medians = {case: statistics.median(values) for case, values in samples.items()}
    print(f"{'case':<22}{'us/request':>12}")
    for case, value in medians.items():
        print(f"{case:<22}{value:>12.1f}")
    write_json_atomic(
        RESULTS,
        {
            "rounds": args.rounds,
            "repeat": args.repeat,
            "median_us_per_request": medians,
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
            },
        },
    )


if __name__ == "__main__":
    main()
