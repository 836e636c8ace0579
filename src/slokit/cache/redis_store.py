"""The shared exact cache: entries in Redis (or Valkey), seen by every gateway replica.

Under ``namespace`` (``ns`` below) four kinds of key::

    ns:entry:<key>   hash: ``entry`` (orjson of body, times, scope, text), ``vector`` (float32)
    ns:order         sorted set of keys by insertion sequence: eviction, oldest first
    ns:expiry        sorted set of keys by ``expires_s``: expired keys purged on insertion
    ns:seq           the insertion counter

An entry's hash expires at ``expires_s`` by Redis itself (``PEXPIREAT``, set once at insertion;
a hit never touches it), so times must be wall-clock epoch seconds, as :class:`WallClock` gives.
Each ``put`` is one Lua script, atomic across replicas: it purges the expired keys, inserts, and
evicts the oldest inserted keys beyond ``max_entries``. ``search`` always answers ``[]``: Redis
here serves exact lookups only; pair the semantic cache with :class:`PgvectorStore`.

For Redis Cluster put a hash tag in the namespace (``"{slokit:cache}"``) so that one script's
keys share a slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from slokit.cache.memory import DEFAULT_MAX_ENTRIES
from slokit.cache.remote import StoreUnavailableError, redacted
from slokit.cache.store import Entry, Neighbour, Vector
from slokit.errors import ConfigError, MissingExtraError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_NAMESPACE = "slokit:cache"
_SCHEMES = ("redis://", "rediss://", "unix://")

# KEYS: entry hash, order zset, expiry zset, sequence counter.
# ARGV: key, entry json, vector bytes ('' for none), expires at (ms, '' for never), expires_s,
#       now_s, max_entries, entry hash prefix.
_PUT = """
local function drop(member)
  redis.call('DEL', ARGV[8] .. member)
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZREM', KEYS[3], member)
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[6])) do
  drop(member)
end
local seq = redis.call('INCR', KEYS[4])
redis.call('DEL', KEYS[1])
if ARGV[3] == '' then
  redis.call('HSET', KEYS[1], 'entry', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'entry', ARGV[2], 'vector', ARGV[3])
end
if ARGV[4] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
end
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if excess > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    drop(member)
  end
end
return seq
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisStoreConfig:
    """The server, the key namespace, capacity (oldest inserted evicted first) and timeouts."""

    url: str = DEFAULT_REDIS_URL
    namespace: str = DEFAULT_NAMESPACE
    max_entries: int = DEFAULT_MAX_ENTRIES
    connect_timeout_s: float = 2.0
    timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.url.startswith(_SCHEMES):
            raise ConfigError(
                f"redis url {redacted(self.url)!r}: write redis://host:port/db "
                "(rediss:// for TLS, unix:///path.sock for a socket)"
            )
        if not self.namespace:
            raise ConfigError("redis namespace must not be empty; e.g. 'slokit:cache'")
        if self.max_entries < 1:
            raise ConfigError(f"max_entries must be >= 1, got {self.max_entries}")
        if not (self.connect_timeout_s > 0 and self.timeout_s > 0):
            raise ConfigError(
                f"redis timeouts must be > 0 s, got connect_timeout_s={self.connect_timeout_s}, "
                f"timeout_s={self.timeout_s}"
            )


class RedisStore:
    """A :class:`Store` for exact lookups shared by many processes; ``search`` answers ``[]``.

    Opening pings the server, so a wrong URL or a stopped server fails here, not at the first
    request. Every failure to talk to Redis raises :class:`StoreUnavailableError`.
    """

    __slots__ = ("_client", "_config", "_errors", "_expiry", "_order", "_prefix", "_put", "_seq")

    def __init__(self, config: RedisStoreConfig | None = None) -> None:
        self._config = config = config or RedisStoreConfig()
        try:
            import redis  # noqa: PLC0415 - optional extra
        except ImportError as error:
            raise MissingExtraError("redis", "redis") from error
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        namespace = config.namespace
        self._prefix = f"{namespace}:entry:"
        self._order = f"{namespace}:order"
        self._expiry = f"{namespace}:expiry"
        self._seq = f"{namespace}:seq"
        # Any: redis-py types every reply as "value or awaitable" for its sync and async clients.
        self._client: Any = redis.Redis.from_url(
            config.url,
            socket_connect_timeout=config.connect_timeout_s,
            socket_timeout=config.timeout_s,
        )
        self._put: Any = self._client.register_script(_PUT)
        try:
            self._client.ping()
        except redis.RedisError as error:
            self._client.close()
            raise self._unavailable(error) from error

    def __len__(self) -> int:
        try:
            return int(self._client.zcard(self._order))
        except self._errors as error:
            raise self._unavailable(error) from error

    def get(self, key: str, now_s: float) -> Entry | None:
        try:
            fields: dict[bytes, bytes] = self._client.hgetall(self._prefix + key)
        except self._errors as error:
            raise self._unavailable(error) from error
        if not fields:
            return None
        entry = _decode(key, fields)
        if entry.expired(now_s):  # the caller's clock may run ahead of the server's
            self.delete(key)
            return None
        return entry

    def put(self, entry: Entry) -> None:
        record = {
            "body": dict(entry.body),
            "created_s": entry.created_s,
            "expires_s": entry.expires_s,
            "scope": entry.scope,
            "text": entry.text,
        }
        finite = math.isfinite(entry.expires_s)
        vector = b"" if entry.vector is None else np.asarray(entry.vector, np.float32).tobytes()
        try:
            self._put(
                keys=[self._prefix + entry.key, self._order, self._expiry, self._seq],
                args=[
                    entry.key,
                    orjson.dumps(record),
                    vector,
                    round(entry.expires_s * 1000) if finite else "",
                    repr(entry.expires_s) if finite else "+inf",
                    repr(entry.created_s),
                    self._config.max_entries,
                    self._prefix,
                ],
            )
        except self._errors as error:
            raise self._unavailable(error) from error

    def search(
        self,
        scope: str,  # noqa: ARG002
        vector: Vector,  # noqa: ARG002
        k: int,  # noqa: ARG002
        now_s: float,  # noqa: ARG002
    ) -> list[Neighbour]:
        """Always ``[]``: this store answers exact lookups only."""
        return []

    def delete(self, key: str) -> None:
        try:
            with self._client.pipeline(transaction=True) as pipeline:
                pipeline.delete(self._prefix + key)
                pipeline.zrem(self._order, key)
                pipeline.zrem(self._expiry, key)
                pipeline.execute()
        except self._errors as error:
            raise self._unavailable(error) from error

    def close(self) -> None:
        self._client.close()

    def _unavailable(self, error: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"redis at {redacted(self._config.url)}: {error}; check RedisStoreConfig.url "
            "and that the server is running and accepts commands"
        )


def _decode(key: str, fields: dict[bytes, bytes]) -> Entry:
    record = orjson.loads(fields[b"entry"])
    vector = fields.get(b"vector")
    return Entry(
        key=key,
        body=record["body"],
        created_s=record["created_s"],
        expires_s=record["expires_s"],
        scope=record["scope"],
        text=record["text"],
        vector=None if vector is None else np.frombuffer(vector, dtype=np.float32),
    )
