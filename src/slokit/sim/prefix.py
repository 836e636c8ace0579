"""The prefix cache of one replica: which prefix groups' KV blocks it still holds, LRU-bounded."""

from __future__ import annotations

from collections import OrderedDict


class PrefixCache:
    """Prefix groups whose KV this replica holds, evicted least-recently-used past a capacity.

    Only whole blocks are cached, as in paged KV caches: a prefix of ``P`` tokens leaves
    ``(P // block_tokens) * block_tokens`` reusable tokens. The total cached is kept at or below
    ``capacity_tokens``.
    """

    __slots__ = ("_block_tokens", "_capacity_tokens", "_groups", "_held_tokens")

    def __init__(self, *, capacity_tokens: int, block_tokens: int) -> None:
        self._capacity_tokens = capacity_tokens
        self._block_tokens = block_tokens
        self._groups: OrderedDict[int, int] = OrderedDict()
        self._held_tokens = 0

    @property
    def held_tokens(self) -> int:
        """Tokens of KV held for cached prefixes."""
        return self._held_tokens

    def __len__(self) -> int:
        return len(self._groups)

    def cached_tokens(self, group: int, prefix_tokens: int) -> int:
        """Tokens of ``group``'s prefix already cached here (0 on a miss); does not touch LRU."""
        held = self._groups.get(group)
        if held is None:
            return 0
        return min(held, (prefix_tokens // self._block_tokens) * self._block_tokens)

    def touch(self, group: int) -> None:
        """Mark ``group`` as just used, if it is cached."""
        if group in self._groups:
            self._groups.move_to_end(group)

    def insert(self, group: int, prefix_tokens: int) -> None:
        """Cache ``group``'s prefix (whole blocks), evicting least-recently-used groups."""
        tokens = (prefix_tokens // self._block_tokens) * self._block_tokens
        if tokens <= 0 or tokens > self._capacity_tokens:
            return
        previous = self._groups.pop(group, 0)
        tokens = max(tokens, previous)
        self._held_tokens += tokens - previous
        self._groups[group] = tokens
        while self._held_tokens > self._capacity_tokens:
            _, evicted = self._groups.popitem(last=False)
            self._held_tokens -= evicted
