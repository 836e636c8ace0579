"""The Redis store against a real redis-server: TTL by Redis, eviction, sharing, restarts."""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from servers import RedisServer, free_port
from slokit.cache import (
    CacheConfig,
    CacheRequest,
    Calibration,
    Completion,
    Entry,
    RedisStore,
    RedisStoreConfig,
    ResponseCache,
    StoreUnavailableError,
)
from slokit.errors import ConfigError

pytest.importorskip("redis", reason="the 'redis' extra is not installed")


_namespaces = itertools.count()


@pytest.fixture
def make_store(redis_server: RedisServer) -> Iterator[Callable[..., RedisStore]]:
    """Stores on the test server, each test in its own namespace; closed at the end."""
    namespace = f"test{next(_namespaces)}"
    stores: list[RedisStore] = []

    def make(**overrides: Any) -> RedisStore:
        config = RedisStoreConfig(url=redis_server.url, namespace=namespace, **overrides)
        store = RedisStore(config)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def entry(key: str, *, created_s: float, ttl_s: float = 600.0, scope: str = "s") -> Entry:
    vector = np.zeros(8, dtype=np.float32)
    vector[sum(map(ord, key)) % 8] = 1.0
    return Entry(
        key=key,
        body={"answer": key, "nested": {"list": [1, 2.5, None]}},
        created_s=created_s,
        expires_s=created_s + ttl_s,
        scope=scope,
        text=f"text {key}",
        vector=vector,
    )


def test_round_trip_keeps_every_field(make_store: Callable[..., RedisStore]) -> None:
    store = make_store()
    now = time.time()
    stored = entry("k1", created_s=now)
    store.put(stored)
    found = store.get("k1", now_s=now)
    assert found is not None
    assert (found.key, found.body, found.created_s, found.expires_s) == (
        "k1",
        stored.body,
        stored.created_s,
        stored.expires_s,
    )
    assert (found.scope, found.text) == ("s", "text k1")
    assert found.vector is not None
    assert stored.vector is not None
    np.testing.assert_array_equal(found.vector, stored.vector)
    assert store.get("absent", now_s=now) is None
    assert len(store) == 1


def test_an_entry_without_a_vector_round_trips(make_store: Callable[..., RedisStore]) -> None:
    store = make_store()
    now = time.time()
    store.put(Entry(key="plain", body={"a": 1}, created_s=now, expires_s=now + 60))
    found = store.get("plain", now_s=now)
    assert found is not None
    assert (found.body, found.scope, found.text, found.vector) == ({"a": 1}, None, None, None)


def test_redis_expires_entries_from_insertion_and_hits_do_not_refresh(
    make_store: Callable[..., RedisStore],
) -> None:
    store = make_store()
    inserted = time.time()
    store.put(entry("short", created_s=inserted, ttl_s=1.2))
    store.put(entry("long", created_s=inserted, ttl_s=600.0))
    for _ in range(4):  # hits spread over most of the lifetime
        assert store.get("short", now_s=inserted) is not None
        time.sleep(0.2)
    time.sleep(max(0.0, inserted + 1.4 - time.time()))
    # Asked with the insertion time, so only Redis's own expiry can have removed it.
    assert store.get("short", now_s=inserted) is None
    assert store.get("long", now_s=inserted) is not None


def test_the_callers_clock_expires_entries_too(make_store: Callable[..., RedisStore]) -> None:
    store = make_store()
    now = time.time()
    store.put(entry("k1", created_s=now, ttl_s=60.0))
    assert store.get("k1", now_s=now + 59.0) is not None
    assert store.get("k1", now_s=now + 60.0) is None
    assert len(store) == 0  # dropped on sight, not only hidden


def test_capacity_evicts_the_oldest_inserted_first(make_store: Callable[..., RedisStore]) -> None:
    store = make_store(max_entries=3)
    now = time.time()
    for key in ["a", "b", "c"]:
        store.put(entry(key, created_s=now))
    store.put(entry("a", created_s=now))  # replacing makes "a" the newest
    store.put(entry("d", created_s=now))
    assert len(store) == 3
    assert [key for key in "abcd" if store.get(key, now_s=now) is not None] == ["a", "c", "d"]
    store.put(entry("e", created_s=now))
    assert [key for key in "abcde" if store.get(key, now_s=now) is not None] == ["a", "d", "e"]


def test_expired_entries_are_purged_before_live_ones_are_evicted(
    make_store: Callable[..., RedisStore],
) -> None:
    store = make_store(max_entries=3)
    now = time.time()
    store.put(entry("old-live", created_s=now, ttl_s=600.0))
    store.put(entry("soon", created_s=now, ttl_s=5.0))
    store.put(entry("live", created_s=now, ttl_s=600.0))
    store.put(entry("new", created_s=now + 10.0, ttl_s=600.0))  # "soon" has expired by then
    later = now + 10.0
    assert [k for k in ["old-live", "live", "new"] if store.get(k, later) is not None] == [
        "old-live",
        "live",
        "new",
    ]
    assert len(store) == 3


def test_namespaces_do_not_see_each_other(
    redis_server: RedisServer, make_store: Callable[..., RedisStore]
) -> None:
    store = make_store()
    other = RedisStore(RedisStoreConfig(url=redis_server.url, namespace="elsewhere"))
    now = time.time()
    store.put(entry("k1", created_s=now))
    assert other.get("k1", now_s=now) is None
    assert len(other) == 0
    other.close()


def test_delete_removes_the_entry_for_every_client(make_store: Callable[..., RedisStore]) -> None:
    writer, reader = make_store(), make_store()
    now = time.time()
    writer.put(entry("k1", created_s=now))
    writer.put(entry("k2", created_s=now))
    assert reader.get("k1", now_s=now) is not None
    reader.delete("k1")
    reader.delete("never-there")
    assert writer.get("k1", now_s=now) is None
    assert writer.get("k2", now_s=now) is not None
    assert len(writer) == 1


def test_search_is_not_this_stores_job(make_store: Callable[..., RedisStore]) -> None:
    store = make_store()
    now = time.time()
    stored = entry("k1", created_s=now)
    store.put(stored)
    assert stored.vector is not None
    assert store.search("s", stored.vector, 4, now_s=now) == []


def test_entries_survive_a_server_restart(
    tmp_path: Path, make_store: Callable[..., RedisStore]
) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None  # the session server started, so it is there
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        store = RedisStore(RedisStoreConfig(url=server.url, max_entries=2))
        now = time.time()
        for key in ["a", "b", "c"]:
            store.put(entry(key, created_s=now))
        store.close()
        server.stop()
        server.start()
        reopened = RedisStore(RedisStoreConfig(url=server.url, max_entries=2))
        assert len(reopened) == 2
        assert reopened.get("a", now_s=now) is None
        found = reopened.get("c", now_s=now)
        assert found is not None
        assert found.body["answer"] == "c"
        reopened.put(entry("d", created_s=now))  # eviction order survived as well
        assert reopened.get("b", now_s=now) is None
        reopened.close()
    finally:
        server.stop()


def test_an_unreachable_server_is_a_clear_error() -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1.*server is running") as error:
        RedisStore(RedisStoreConfig(url=url, connect_timeout_s=0.5))
    assert "secret" not in str(error.value)


def test_a_server_gone_mid_flight_is_a_clear_error(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    assert binary is not None
    server = RedisServer(binary, tmp_path)
    server.start()
    store = RedisStore(RedisStoreConfig(url=server.url, timeout_s=0.5, connect_timeout_s=0.5))
    server.stop()
    with pytest.raises(StoreUnavailableError, match="redis at"):
        store.get("k1", now_s=time.time())
    store.close()


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="redis://host:port"):
        RedisStoreConfig(url="http://127.0.0.1:6379")
    with pytest.raises(ConfigError, match="max_entries"):
        RedisStoreConfig(max_entries=0)
    with pytest.raises(ConfigError, match="namespace"):
        RedisStoreConfig(namespace="")


def ask(text: str) -> CacheRequest:
    return CacheRequest.from_openai(
        tenant="acme", model="m", messages=[{"role": "user", "content": text}], temperature=0
    )


def reply(text: str) -> Completion:
    return Completion({"choices": [{"message": {"content": text}, "finish_reason": "stop"}]})


@pytest.mark.asyncio
async def test_replicas_share_exact_hits_through_the_response_cache(
    make_store: Callable[..., RedisStore],
    embedder: Any,
    similarity_calibration: Callable[..., Calibration],
) -> None:
    def replica() -> ResponseCache:
        return ResponseCache(
            make_store(),
            config=CacheConfig(ttl_s=60.0),
            embedder=embedder,
            calibration=similarity_calibration(0.8),
        )

    first, second = replica(), replica()
    computed = await first.get_or_compute(ask("How do I reset my password?"), _answer("A"))
    assert computed.source == "computed"
    shared = await second.get_or_compute(ask("How do I reset my password?"), _answer("B"))
    assert (shared.source, shared.body["choices"][0]["message"]["content"]) == ("exact", "A")
    # A paraphrase needs a semantic search, which this store does not do: computed again.
    near = await second.get_or_compute(ask("How do I reset my password ?"), _answer("C"))
    assert near.source == "computed"


def _answer(text: str) -> Callable[[], Any]:
    async def compute() -> Completion:
        return reply(text)

    return compute
