"""The prefix cache: whole blocks, least-recently-used eviction within a capacity."""

from __future__ import annotations

from slokit.sim import PrefixCache


def test_caches_whole_blocks_and_evicts_least_recently_used() -> None:
    cache = PrefixCache(capacity_tokens=64, block_tokens=16)
    cache.insert(1, 40)  # 32 tokens: two whole blocks
    cache.insert(2, 16)
    assert cache.cached_tokens(1, 40) == 32
    assert cache.cached_tokens(1, 20) == 16  # a shorter prefix reuses only its own blocks
    assert cache.cached_tokens(3, 40) == 0
    cache.touch(1)  # 2 is now the least recently used
    cache.insert(3, 32)
    assert (cache.cached_tokens(2, 16), cache.cached_tokens(1, 40)) == (0, 32)
    assert (len(cache), cache.held_tokens) == (2, 64)


def test_ignores_prefixes_shorter_than_a_block_or_larger_than_the_cache() -> None:
    cache = PrefixCache(capacity_tokens=64, block_tokens=16)
    cache.insert(1, 15)
    cache.insert(2, 80)
    cache.touch(9)
    assert (len(cache), cache.held_tokens) == (0, 0)
    cache.insert(1, 32)
    cache.insert(1, 16)  # a group keeps its longest prefix
    assert cache.cached_tokens(1, 64) == 32
