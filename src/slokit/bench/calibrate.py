"""Measuring an endpoint for calibration: the probes whose results :mod:`slokit.sim.calibrate` fits.

The probes, in order, each through the bench client (streamed chat requests):

1. warm-up requests, discarded (the first requests of a fresh server pay one-off costs);
2. single requests at each prompt length, ``repeats`` times in a seeded shuffled order (so a
   drift in machine load does not line up with length): time to first token for the prefill
   fit, and the mean gap between content chunks, at the mean context of the stream, for the
   decode fit. Every prompt is new text: servers that reuse a common prompt prefix (llama.cpp
   keeps the previous request's tokens) would otherwise skip the prefill being measured;
3. one non-streamed twin of a probe (``max_tokens=1``) for the server's prompt token count,
   whose excess over the prompt sent is the chat template's overhead;
4. bursts of 2, 4, 8, ... requests sent at once, until fewer streams overlap in their decoding
   than were sent (the server's parallel slots) or ``max_concurrency`` is reached; each burst
   whose streams all decode together gives a decode step at that batch size;
5. one prompt longer than any context (``context_probe_tokens``), whose rejection names the
   context limit in OpenAI's error wording ("maximum context length is N tokens").
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from slokit.bench.client import BenchClient, BenchRequest, ClientConfig
from slokit.bench.schedule import loop_factory
from slokit.errors import ConfigError, SlokitError
from slokit.results.record import RequestRecord
from slokit.sim.calibrate import DecodeSample, Measurements, PrefillSample
from slokit.workload.seeding import Stream
from slokit.workload.text import TextSynthesizer

#: What the server's rejection of an over-long prompt says, in the wording of OpenAI, vLLM and
#: llama-cpp-python ("This model's maximum context length is 2048 tokens").
_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+)|context window of (\d+)")
_WARMUP_PROMPT_TOKENS = 16
_WARMUP_OUTPUT_TOKENS = 4
_TWIN_PROMPT_TOKENS = 16

RequestDone = Callable[[], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CalibrationPlan:
    """Which probes to send (see the module docstring).

    ``force_length`` asks the server to ignore end-of-sequence until ``output_tokens`` (the
    ``min_tokens`` and ``ignore_eos`` extensions of vLLM and llama.cpp), so every stream has the
    planned length. ``context_probe_tokens=0`` skips the context-limit probe.
    """

    prompt_lengths: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    repeats: int = 3
    output_tokens: int = 32
    warmup_requests: int = 2
    max_concurrency: int = 64
    burst_prompt_tokens: int = 32
    context_probe_tokens: int = 32_768
    force_length: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.prompt_lengths or min(self.prompt_lengths) < 1:
            raise ConfigError("--prompt-lengths must list token counts >= 1, e.g. 16,64,256")
        for flag, value, least in (
            ("--repeats", self.repeats, 1),
            ("--output-tokens", self.output_tokens, 2),
            ("--max-concurrency", self.max_concurrency, 1),
            ("--burst-prompt-tokens", self.burst_prompt_tokens, 1),
        ):
            if value < least:
                raise ConfigError(f"{flag} must be a whole number >= {least}, got {value}")
        if self.warmup_requests < 0 or self.context_probe_tokens < 0:
            raise ConfigError("--warmup and --context-probe-tokens must be >= 0")

    def request_budget(self) -> int:
        """The most requests the plan sends (bursts stop early on a server with few slots)."""
        bursts = sum(_burst_sizes(self.max_concurrency))
        single = self.repeats * len(self.prompt_lengths)
        return self.warmup_requests + single + 1 + bursts + (1 if self.context_probe_tokens else 0)


def measure_endpoint(
    client: ClientConfig,
    model: str,
    plan: CalibrationPlan | None = None,
    *,
    on_request: RequestDone | None = None,
) -> Measurements:
    """Run the plan's probes against ``client.base_url`` on a fresh event loop."""
    probe = _Prober(client, model, plan or CalibrationPlan(), on_request)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(probe.run())


class _Prober:
    """The state of one calibration run: the client, the text source and the request count."""

    def __init__(
        self,
        client: ClientConfig,
        model: str,
        plan: CalibrationPlan,
        on_request: RequestDone | None,
    ) -> None:
        self.config = client
        self.model = model
        self.plan = plan
        self.on_request = on_request
        self.text = TextSynthesizer(plan.seed)
        self.sent = 0
        self.start_s = time.monotonic()

    async def run(self) -> Measurements:
        plan = self.plan
        async with BenchClient(self.config) as client:
            for _ in range(plan.warmup_requests):
                await self.send(client, _WARMUP_PROMPT_TOKENS, _WARMUP_OUTPUT_TOKENS)
            singles = await self.singles(client)
            twin = await self.send(client, _TWIN_PROMPT_TOKENS, 1, stream=False, reuse=True)
            overhead = twin.prompt_tokens - _TWIN_PROMPT_TOKENS if twin.prompt_tokens else None
            slots, saturated, bursts = await self.bursts(client)
        limit = await self.context_limit() if plan.context_probe_tokens else None
        if limit is not None and overhead is not None:
            limit -= overhead
        prefill = tuple(
            PrefillSample(prompt_tokens=tokens, ttft_s=_ttft(record)) for tokens, record in singles
        )
        decode = tuple(
            DecodeSample(
                batch_size=1,
                context_tokens=tokens + len(record.chunk_times_s) / 2,
                step_s=_mean_gap(record.chunk_times_s),
            )
            for tokens, record in singles
            if len(record.chunk_times_s) >= 2
        )
        tails = [r.end_s - r.chunk_times_s[-1] for _, r in singles if r.chunk_times_s]
        return Measurements(
            model=self.model,
            prefill=prefill,
            decode=decode + bursts,
            parallel_slots=slots,
            slots_saturated=saturated,
            context_limit_tokens=limit,
            prompt_overhead_tokens=overhead,
            stream_tail_s=statistics.median(tails) if tails else 0.0,
        )

    async def singles(self, client: BenchClient) -> list[tuple[int, RequestRecord]]:
        """Each prompt length ``repeats`` times, alone, in a seeded shuffled order."""
        order = [length for _ in range(self.plan.repeats) for length in self.plan.prompt_lengths]
        random.Random(self.plan.seed).shuffle(order)
        return [
            (tokens, await self.send(client, tokens, self.plan.output_tokens)) for tokens in order
        ]

    async def bursts(self, client: BenchClient) -> tuple[int, bool, tuple[DecodeSample, ...]]:
        """Parallel slots, whether a burst exceeded them, and the decode steps of full bursts."""
        slots, samples = 1, list[DecodeSample]()
        prompt, output = self.plan.burst_prompt_tokens, self.plan.output_tokens
        for size in _burst_sizes(self.plan.max_concurrency):
            records = await asyncio.gather(
                *(self.send(client, prompt, output) for _ in range(size))
            )
            overlap = max_overlap([r.chunk_times_s for r in records])
            slots = max(slots, overlap)
            if overlap < size:
                return slots, True, tuple(samples)
            step_s = _together_step([r.chunk_times_s for r in records])
            if step_s is not None:
                context = size * (prompt + output / 2)
                samples.append(DecodeSample(batch_size=size, context_tokens=context, step_s=step_s))
        return slots, False, tuple(samples)

    async def send(
        self,
        client: BenchClient,
        prompt_tokens: int,
        output_tokens: int,
        *,
        stream: bool = True,
        reuse: bool = False,
    ) -> RequestRecord:
        """One chat request with a prompt of new text (``reuse``: the previous request's)."""
        key = self.sent - 1 if reuse else self.sent
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "user", "content": self.text.words(Stream.BODY_TEXT, key, prompt_tokens)}
            ],
            "max_tokens": output_tokens,
            "temperature": 0.0,
            "stream": stream,
        }
        if self.plan.force_length:
            body["min_tokens"] = output_tokens
            body["ignore_eos"] = True
        request = BenchRequest(scheduled_s=0.0, endpoint="chat", body=body)
        record = await client.send(request, request_id=self.sent, run_start_s=self.start_s)
        self.sent += 1
        if self.on_request is not None:
            self.on_request()
        if record.error is not None or (stream and record.first_token_s is None):
            hint = (
                "; if the server refuses min_tokens/ignore_eos, pass --no-force-length"
                if record.status == 400 and self.plan.force_length
                else ""
            )
            raise SlokitError(
                f"calibration request failed: {record.error or 'no content streamed'} "
                f"(HTTP {record.status}){hint}"
            )
        return record

    async def context_limit(self) -> int | None:
        """The context limit named by the rejection of an over-long prompt (``None``: none)."""
        tokens = self.plan.context_probe_tokens
        body = {
            "model": self.model,
            "messages": [
                {"role": "user", "content": self.text.words(Stream.BODY_TEXT, self.sent, tokens)}
            ],
            "max_tokens": 1,
            "stream": False,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, headers=headers) as session,
                session.post(url, data=orjson.dumps(body)) as response,
            ):
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            return None
        finally:
            self.sent += 1
            if self.on_request is not None:
                self.on_request()
        return parse_context_limit(text) if status >= 400 else None


def parse_context_limit(message: str) -> int | None:
    """The context limit an over-long-prompt error names, or ``None``."""
    found = _CONTEXT_LIMIT.search(message)
    if found is None:
        return None
    return int(found.group(1) or found.group(2))


def max_overlap(streams: Sequence[Sequence[float]]) -> int:
    """The most streams decoding at one instant, each from its first to its last chunk.

    Intervals that only touch do not overlap: a server that serves one request at a time ends
    one stream before it starts the next.
    """
    events = sorted(
        [(chunks[0], 1) for chunks in streams if chunks]
        + [(chunks[-1], -1) for chunks in streams if chunks]
    )
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return max(peak, 1)


def _burst_sizes(max_concurrency: int) -> list[int]:
    sizes = []
    size = 2
    while size <= max_concurrency:
        sizes.append(size)
        size *= 2
    return sizes


def _ttft(record: RequestRecord) -> float:
    ttft = record.ttft_s
    if ttft is None:  # send() refuses streams without content
        raise SlokitError("calibration: a probe streamed no content")
    return ttft


def _mean_gap(chunks: Sequence[float]) -> float:
    return (chunks[-1] - chunks[0]) / (len(chunks) - 1)


def _together_step(streams: Sequence[Sequence[float]]) -> float | None:
    """Mean chunk gap while every stream decodes (``None`` when that window has no gap)."""
    start = max(chunks[0] for chunks in streams)
    end = min(chunks[-1] for chunks in streams)
    gaps = [
        later - earlier
        for chunks in streams
        for earlier, later in itertools.pairwise(chunks)
        if earlier >= start and later <= end
    ]
    return statistics.fmean(gaps) if gaps and not math.isclose(start, end) else None
