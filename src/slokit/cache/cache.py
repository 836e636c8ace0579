"""The response cache: exact, then semantic, with single flight for identical requests.

Usable on its own around any async call, e.g. an OpenAI client::

    cache = ResponseCache(SqliteStore(SqliteStoreConfig(path=Path("cache.db"))),
                          embedder=embedder, calibration=calibration)
    request = CacheRequest.from_openai(tenant="acme", model=model, messages=messages,
                                       temperature=0)
    result = await cache.get_or_compute(
        request, lambda: complete(client.chat.completions.create(**kwargs)))

What is never stored: errors (the call raised, or the body holds ``error``), replies whose
stream was truncated or cancelled (``Completion.complete`` false, or a choice without an
accepted ``finish_reason``), and sampled requests (temperature > 0 or n > 1, temperature
absent counting as OpenAI's default 1) unless the request opts in with ``allow_sampled``.
Entries expire ``ttl_s`` after insertion; hits never extend them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from slokit.cache.batching import MicroBatcher
from slokit.cache.calibration import Calibration
from slokit.cache.embedder import Embedder
from slokit.cache.request import CacheRequest
from slokit.cache.store import Entry, Store, Vector
from slokit.clock import Clock
from slokit.errors import ConfigError

DEFAULT_TTL_S = 3600.0
CACHEABLE_FINISH_REASONS: frozenset[str] = frozenset({"stop", "tool_calls", "function_call"})

Source = Literal["exact", "semantic", "computed", "uncached"]


class WallClock:
    """Seconds since the epoch: entry expiry must mean the same after a restart."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheConfig:
    """Time to live from insertion, and which finished replies may be stored."""

    ttl_s: float = DEFAULT_TTL_S
    cacheable_finish_reasons: frozenset[str] = CACHEABLE_FINISH_REASONS

    def __post_init__(self) -> None:
        if not self.ttl_s > 0:
            raise ConfigError(f"ttl_s must be > 0 seconds, got {self.ttl_s}")


@dataclass(frozen=True, slots=True)
class Completion:
    """What the wrapped call produced; ``complete`` is false for a cut or cancelled stream."""

    body: Mapping[str, Any]
    complete: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheResult:
    """A reply and where it came from; ``similarity`` and ``score`` for semantic hits."""

    body: Mapping[str, Any]
    source: Source
    similarity: float | None = None
    score: float | None = None

    @property
    def hit(self) -> bool:
        return self.source in {"exact", "semantic"}


class _LeaderCancelledError(Exception):
    """The request computing a reply was cancelled; a waiting request takes over."""


class ResponseCache:
    """Exact and semantic lookups over a :class:`Store`.

    Semantic lookups need both an embedder and a :class:`Calibration`: without a calibrated
    bound on false hits the cache serves identical requests only.
    """

    __slots__ = ("_batcher", "_calibration", "_clock", "_config", "_inflight", "_store")

    def __init__(
        self,
        store: Store,
        *,
        config: CacheConfig | None = None,
        embedder: Embedder | MicroBatcher | None = None,
        calibration: Calibration | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._config = config or CacheConfig()
        if embedder is not None and not isinstance(embedder, MicroBatcher):
            embedder = MicroBatcher(embedder)
        self._batcher = embedder
        self._calibration = calibration
        self._clock: Clock = clock or WallClock()
        self._inflight: dict[str, asyncio.Future[CacheResult]] = {}

    @property
    def semantic(self) -> bool:
        return self._batcher is not None and self._calibration is not None

    async def lookup(self, request: CacheRequest) -> CacheResult | None:
        """A cached reply for ``request``, exact first, or None."""
        return (await self._lookup(request))[0]

    async def probe(self, request: CacheRequest) -> tuple[CacheResult | None, Vector | None]:
        """:meth:`lookup`, and the embedding it computed (hand it to :meth:`store` on a miss,
        so that storing the reply later does not embed the same text again)."""
        return await self._lookup(request)

    async def store(
        self, request: CacheRequest, completion: Completion, *, vector: Vector | None = None
    ) -> bool:
        """Store ``completion`` as the reply to ``request`` if it may be; True if stored.

        ``vector``: the embedding :meth:`probe` returned for this request, if any.
        """
        return await self._store_reply(request, completion, vector)

    async def get_or_compute(
        self, request: CacheRequest, compute: Callable[[], Awaitable[Completion]]
    ) -> CacheResult:
        """The cached reply, or ``compute()``'s, computed once for concurrent identical requests.

        If ``compute`` raises, the error reaches every request waiting on it and nothing is
        stored. If the computing request is cancelled, a waiting one computes instead.
        """
        if request.sampled and not request.allow_sampled:
            completion = await compute()
            return CacheResult(body=completion.body, source="uncached")
        key = request.exact_key()
        while True:
            found, vector = await self._lookup(request)
            if found is not None:
                return found
            pending = self._inflight.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except _LeaderCancelledError:
                continue
        future: asyncio.Future[CacheResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            completion = await compute()
            await self._store_reply(request, completion, vector)
        except asyncio.CancelledError:
            _fail(future, _LeaderCancelledError())
            raise
        except BaseException as error:
            _fail(future, error)
            raise
        finally:
            del self._inflight[key]
        result = CacheResult(body=completion.body, source="computed")
        future.set_result(result)
        return result

    async def _lookup(self, request: CacheRequest) -> tuple[CacheResult | None, Vector | None]:
        if request.sampled and not request.allow_sampled:
            return None, None
        now_s = self._clock.now()
        entry = self._store.get(request.exact_key(), now_s)
        if entry is not None:
            return CacheResult(body=entry.body, source="exact"), None
        scope, text = request.semantic_scope(), request.semantic_text()
        if self._batcher is None or self._calibration is None or scope is None or text is None:
            return None, None
        vector = await self._batcher.embed_one(text)
        neighbours = self._store.search(scope, vector, self._calibration.candidates, now_s)
        candidates = [(n.entry.text or "", n.similarity) for n in neighbours]
        choice = self._calibration.choose(text, candidates)
        if choice is None:
            return None, vector
        chosen = neighbours[choice.position]
        return (
            CacheResult(
                body=chosen.entry.body,
                source="semantic",
                similarity=chosen.similarity,
                score=choice.score,
            ),
            vector,
        )

    async def _store_reply(
        self, request: CacheRequest, completion: Completion, vector: Vector | None
    ) -> bool:
        if not self._cacheable(request, completion):
            return False
        scope, text = request.semantic_scope(), request.semantic_text()
        if self._batcher is not None and scope is not None and text is not None:
            if vector is None:
                vector = await self._batcher.embed_one(text)
        else:
            scope = text = vector = None
        now_s = self._clock.now()
        self._store.put(
            Entry(
                key=request.exact_key(),
                body=completion.body,
                created_s=now_s,
                expires_s=now_s + self._config.ttl_s,
                scope=scope,
                text=text,
                vector=vector,
            )
        )
        return True

    def _cacheable(self, request: CacheRequest, completion: Completion) -> bool:
        if request.sampled and not request.allow_sampled:
            return False
        body = completion.body
        if not completion.complete or body.get("error") is not None:
            return False
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            return False
        return all(
            isinstance(choice, Mapping)
            and choice.get("finish_reason") in self._config.cacheable_finish_reasons
            for choice in choices
        )


def _fail(future: asyncio.Future[CacheResult], error: BaseException) -> None:
    future.set_exception(error)
    # Marks the exception as retrieved: with no waiter, asyncio would log it at collection.
    future.exception()
