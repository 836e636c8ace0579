"""Cache semantics through ResponseCache: scoping, TTL, what is never stored, single flight."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from slokit.cache import (
    CacheConfig,
    CacheRequest,
    Calibration,
    Completion,
    MemoryStore,
    ResponseCache,
)
from slokit.clock import ManualClock


def ask(text: str, *, tenant: str = "acme", **parameters: object) -> CacheRequest:
    return CacheRequest.from_openai(
        tenant=tenant,
        model="m",
        messages=[{"role": "user", "content": text}],
        **{"temperature": 0, **parameters},
    )


def reply(text: str, finish_reason: str | None = "stop") -> Completion:
    return Completion(
        {
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
            ]
        }
    )


def answer(text: str) -> Callable[[], Awaitable[Completion]]:
    async def compute() -> Completion:
        return reply(text)

    return compute


def content(body: object) -> str:
    assert isinstance(body, dict)
    return str(body["choices"][0]["message"]["content"])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_000.0)


@pytest.fixture
def cache(
    embedder: Any, clock: ManualClock, similarity_calibration: Callable[..., Calibration]
) -> ResponseCache:
    return ResponseCache(
        MemoryStore(),
        config=CacheConfig(ttl_s=60.0),
        embedder=embedder,
        calibration=similarity_calibration(0.8),
        clock=clock,
    )


@pytest.mark.asyncio
async def test_exact_then_semantic_hit_within_one_tenant(cache: ResponseCache) -> None:
    first = await cache.get_or_compute(ask("How do I reset my password?"), answer("A"))
    assert first.source == "computed"
    exact = await cache.get_or_compute(ask("How do I reset my password?"), answer("B"))
    assert (exact.source, content(exact.body)) == ("exact", "A")
    near = await cache.lookup(ask("How do I reset my password ?"))
    assert near is not None
    assert near.source == "semantic"
    assert near.similarity is not None
    assert near.similarity >= 0.8


@pytest.mark.asyncio
async def test_no_match_across_tenants_or_conversations(cache: ResponseCache) -> None:
    await cache.get_or_compute(ask("How do I reset my password?"), answer("A"))
    assert await cache.lookup(ask("How do I reset my password?", tenant="globex")) is None
    in_conversation = CacheRequest.from_openai(
        tenant="acme",
        model="m",
        messages=[
            {"role": "user", "content": "I use the mobile app."},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "How do I reset my password?"},
        ],
        temperature=0,
    )
    assert await cache.lookup(in_conversation) is None


@pytest.mark.asyncio
async def test_ttl_runs_from_insertion_and_hits_do_not_refresh_it(
    cache: ResponseCache, clock: ManualClock
) -> None:
    await cache.get_or_compute(ask("q"), answer("A"))
    clock.advance(59.0)
    assert await cache.lookup(ask("q")) is not None
    clock.advance(1.0)
    assert await cache.lookup(ask("q")) is None


@pytest.mark.asyncio
async def test_errors_are_never_stored_and_reach_every_waiter(cache: ResponseCache) -> None:
    async def fail() -> Completion:
        raise RuntimeError("upstream 500")

    with pytest.raises(RuntimeError, match="upstream 500"):
        await cache.get_or_compute(ask("q"), fail)
    error_body = Completion({"error": {"message": "overloaded"}, "choices": []})
    assert not await cache.store(ask("q"), error_body)
    assert await cache.lookup(ask("q")) is None


@pytest.mark.parametrize(
    "completion",
    [
        Completion(reply("half").body, complete=False),
        reply("half", finish_reason=None),
        reply("half", finish_reason="length"),
        Completion({"choices": []}),
    ],
    ids=["cancelled-stream", "no-finish-reason", "truncated-by-length", "no-choices"],
)
@pytest.mark.asyncio
async def test_incomplete_replies_are_never_stored(
    cache: ResponseCache, completion: Completion
) -> None:
    assert not await cache.store(ask("q"), completion)
    assert await cache.lookup(ask("q")) is None


@pytest.mark.asyncio
async def test_sampled_requests_bypass_the_cache_unless_they_opt_in(cache: ResponseCache) -> None:
    sampled = ask("q", temperature=0.7)
    assert (await cache.get_or_compute(sampled, answer("A"))).source == "uncached"
    assert (await cache.get_or_compute(sampled, answer("B"))).source == "uncached"
    opted_in = CacheRequest.from_openai(
        tenant="acme",
        model="m",
        messages=[{"role": "user", "content": "q"}],
        temperature=0.7,
        allow_sampled=True,
    )
    await cache.get_or_compute(opted_in, answer("C"))
    hit = await cache.get_or_compute(opted_in, answer("D"))
    assert (hit.source, content(hit.body)) == ("exact", "C")


@pytest.mark.asyncio
async def test_no_semantic_hits_without_a_calibration(embedder: Any) -> None:
    cache = ResponseCache(MemoryStore(), embedder=embedder)
    await cache.get_or_compute(ask("How do I reset my password?"), answer("A"))
    assert await cache.lookup(ask("How do I reset my password ?")) is None
    assert embedder.calls == [1]  # the stored prompt only, ready for a later calibration


@pytest.mark.asyncio
async def test_guards_veto_a_differing_number_or_negation(cache: ResponseCache) -> None:
    await cache.get_or_compute(ask("Is the 2019 model waterproof?"), answer("A"))
    assert await cache.lookup(ask("Is the 2020 model waterproof?")) is None
    await cache.get_or_compute(ask("Can I pay by card?"), answer("B"))
    assert await cache.lookup(ask("Can I not pay by card?")) is None


@pytest.mark.asyncio
async def test_single_flight_computes_once_for_concurrent_identical_requests(
    cache: ResponseCache,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def slow() -> Completion:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return reply("A")

    tasks = [asyncio.create_task(cache.get_or_compute(ask("q"), slow)) for _ in range(8)]
    await started.wait()
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert {content(r.body) for r in results} == {"A"}


@pytest.mark.asyncio
async def test_a_waiter_takes_over_when_the_computing_request_is_cancelled() -> None:
    cache = ResponseCache(MemoryStore())  # exact only: a lookup never leaves the event loop
    started = asyncio.Event()
    never = asyncio.Event()

    async def hangs() -> Completion:
        started.set()
        await never.wait()
        raise AssertionError("unreachable")

    leader = asyncio.create_task(cache.get_or_compute(ask("q"), hangs))
    await started.wait()
    follower = asyncio.create_task(cache.get_or_compute(ask("q"), answer("B")))
    await asyncio.sleep(0)  # one turn of the loop: the follower now waits on the leader
    leader.cancel()
    result = await follower
    assert (result.source, content(result.body)) == ("computed", "B")
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await cache.lookup(ask("q")) is not None


@pytest.mark.asyncio
async def test_concurrent_lookups_share_embedding_batches(
    embedder: Any, similarity_calibration: Callable[..., Calibration]
) -> None:
    cache = ResponseCache(MemoryStore(), embedder=embedder, calibration=similarity_calibration(0.9))
    await asyncio.gather(*(cache.lookup(ask(f"question {i}")) for i in range(16)))
    assert sum(embedder.calls) == 16
    assert len(embedder.calls) < 16
