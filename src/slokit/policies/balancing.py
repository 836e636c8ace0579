"""Replica balancing: least outstanding requests, round robin, and prefix affinity.

A balancer picks, for each request, one replica out of a sequence of the ready ones. It reads
only each replica's ``replica_id`` and ``outstanding_requests``, so the simulator's replicas
and a gateway's upstream endpoints both fit; the request is reduced to an optional affinity
key (a prefix group, a session, a tenant's system prompt), which only affinity balancers use.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from slokit.errors import ConfigError

# Keys whose preferred replica is remembered; beyond this the memo starts afresh.
_MEMO_KEYS = 65_536


class ReplicaLoad(Protocol):
    """What a balancer reads about one replica."""

    @property
    def replica_id(self) -> str: ...

    @property
    def outstanding_requests(self) -> int: ...


class Balancer(Protocol):
    """Picks the replica for a request: an index into ``replicas`` (never empty).

    ``key`` is the request's affinity key (``None``: it has none); ``now_s`` is the caller's
    clock, for balancers that age their state.
    """

    def choose(
        self, replicas: Sequence[ReplicaLoad], key: Hashable | None, now_s: float
    ) -> int: ...


class WeightedReplicaLoad(ReplicaLoad, Protocol):
    """A replica with a share of the load: ``weight`` 2 takes twice the requests of 1."""

    @property
    def weight(self) -> float: ...


def _load(replica: ReplicaLoad) -> float:
    # Replicas without a weight (the simulator's) weigh 1: their load is the plain count.
    weight: float = getattr(replica, "weight", 1.0)
    return replica.outstanding_requests / weight


class LeastOutstandingBalancer:
    """Send each request to the replica with the fewest outstanding requests per weight.

    The scan starts one replica further on each call, so ties rotate instead of piling onto
    the first replica (which would skew per-replica load whenever the cluster is lightly used).
    A replica's weight (see :class:`WeightedReplicaLoad`) divides its count; absent, it is 1.
    """

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = 0

    def choose(
        self,
        replicas: Sequence[ReplicaLoad],
        key: Hashable | None,  # noqa: ARG002  (the Balancer signature; load alone decides)
        now_s: float,  # noqa: ARG002
    ) -> int:
        count = len(replicas)
        best = self._turn % count
        self._turn = best + 1
        best_load = _load(replicas[best])
        position = best
        for _ in range(count - 1):
            position = position + 1 if position + 1 < count else 0
            load = _load(replicas[position])
            if load < best_load:
                best, best_load = position, load
        return best


class RoundRobinBalancer:
    """Send requests to the ready replicas in turn."""

    __slots__ = ("_turn",)

    def __init__(self) -> None:
        self._turn = 0

    def choose(
        self,
        replicas: Sequence[ReplicaLoad],
        key: Hashable | None,  # noqa: ARG002  (the Balancer signature; turn alone decides)
        now_s: float,  # noqa: ARG002
    ) -> int:
        position = self._turn % len(replicas)
        self._turn = position + 1
        return position


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefixAffinityConfig:
    """``load_factor``: the bound on a replica's load, as a multiple of the mean (>= 1)."""

    load_factor: float = 1.25

    def __post_init__(self) -> None:
        if not (math.isfinite(self.load_factor) and self.load_factor >= 1.0):
            raise ConfigError(
                f"prefix affinity: 'load_factor' must be a number >= 1, got {self.load_factor!r}"
            )


def affinity_score(key: Hashable, replica_id: str) -> int:
    """Rendezvous (highest-random-weight) score of a key on a replica, stable across processes.

    ``blake2b(repr(key) + "|" + replica_id)`` read as an integer: the same key prefers the
    same replica in every run and every process, and removing a replica moves only its keys.
    """
    digest = hashlib.blake2b(f"{key!r}|{replica_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class PrefixAffinityBalancer:
    """Send requests that share a key to the same replica, unless it is overloaded.

    The preferred replica of a key is the one with the highest :func:`affinity_score`
    (rendezvous hashing), so its prefix stays warm in that replica's KV cache. Bounded load
    (consistent hashing with bounded loads): the preferred replica is used while its load, with
    this request, stays within ``ceil(load_factor * (total + 1) / n)`` for ``total``
    outstanding requests on ``n`` replicas; otherwise, and for requests without a key, the
    request goes to the least-outstanding replica.
    """

    __slots__ = ("_config", "_fallback", "_ids", "_preferred")

    def __init__(self, config: PrefixAffinityConfig | None = None) -> None:
        self._config = config if config is not None else PrefixAffinityConfig()
        self._fallback = LeastOutstandingBalancer()
        self._ids: tuple[str, ...] = ()
        self._preferred: dict[Hashable, int] = {}

    def choose(self, replicas: Sequence[ReplicaLoad], key: Hashable | None, now_s: float) -> int:
        if key is None or len(replicas) == 1:
            return self._fallback.choose(replicas, key, now_s)
        ids = tuple(replica.replica_id for replica in replicas)
        if ids != self._ids:
            # The ready set changed: rankings are recomputed lazily, per key.
            self._ids = ids
            self._preferred.clear()
        position = self._preferred.get(key)
        if position is None:
            position = max(range(len(ids)), key=lambda p: affinity_score(key, ids[p]))
            if len(self._preferred) >= _MEMO_KEYS:
                self._preferred.clear()
            self._preferred[key] = position
        total = sum(replica.outstanding_requests for replica in replicas)
        bound = math.ceil(self._config.load_factor * (total + 1) / len(replicas))
        if replicas[position].outstanding_requests + 1 <= bound:
            return position
        return self._fallback.choose(replicas, key, now_s)
