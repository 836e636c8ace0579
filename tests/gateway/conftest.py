"""Real servers on 127.0.0.1 for the gateway tests: slokit's emulator and a scripted upstream."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import web

from servers import ThreadedApp
from slokit.emulate import EmulatorConfig, FixedTiming, run_emulator_process

CHAT = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="session")
def emulator() -> Iterator[str]:
    """The emulator's base URL: 4-token replies, 10 ms to the first token, 5 ms per token."""
    timing = FixedTiming(ttft_s=0.01, itl_s=0.005, output_tokens=4)
    with run_emulator_process(EmulatorConfig(timing=timing)) as base_url:
        yield base_url


class ScriptedUpstream(ThreadedApp):
    """An OpenAI-shaped upstream whose behaviour is chosen by the path prefix of its base URL.

    ``/ok/v1`` answers; ``/status-NNN/v1`` answers HTTP NNN; ``/hang/v1`` never answers;
    ``/slow/v1`` answers after 0.3 s;
    ``/gated/v1`` streams one token, waits for :meth:`open_gate`, then finishes; ``/stall/v1``
    streams one token and then nothing. ``requests`` counts calls per prefix.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requests: Counter[str] = Counter()
        self.gate = asyncio.Event()
        self.forever = asyncio.Event()

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1"

    def open_gate(self) -> None:
        self.loop.call_soon_threadsafe(self.gate.set)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{behaviour}/v1/{endpoint:.*}", self._handle)

    def before_stop(self) -> None:
        self.gate.set()
        self.forever.set()  # lets hanging handlers end before the server goes

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        behaviour = request.match_info["behaviour"]
        endpoint = request.match_info["endpoint"]
        self.requests[behaviour] += 1
        body = orjson.loads(await request.read())
        if behaviour.startswith("status-"):
            error = {"error": {"message": "scripted failure", "type": "server_error"}}
            return web.Response(
                status=int(behaviour[7:]), body=orjson.dumps(error), content_type="application/json"
            )
        if behaviour == "hang":
            await self.forever.wait()
        elif behaviour == "slow":
            await asyncio.sleep(0.3)
        if endpoint == "embeddings":
            reply = {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "model": body["model"],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            }
            return web.Response(body=orjson.dumps(reply), content_type="application/json")
        if not body.get("stream"):
            return web.Response(
                body=orjson.dumps(_chat_reply(body)), content_type="application/json"
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_chunk("first"))
        if behaviour == "gated":
            await self.gate.wait()
        elif behaviour == "stall":
            await self.forever.wait()
        await response.write(_chunk(" last") + b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _chat_reply(body: dict[str, object]) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }


def _chunk(text: str) -> bytes:
    event = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


@pytest.fixture
def scripted() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream()
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()
