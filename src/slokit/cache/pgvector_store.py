"""The shared semantic cache: PostgreSQL + pgvector, exact and nearest-neighbour lookups.

One table holds every entry (``key`` primary key, ``scope``, ``text``, ``body`` jsonb, times in
epoch seconds, ``vector(dimensions)``) with an HNSW index on cosine distance. ``search`` filters
by scope and expiry; pgvector (before 0.8's iterative scans) filters *after* the HNSW walk, so
a small scope among many others can come back short. When it returns fewer than ``k`` rows the
scope is searched exactly, which is cheap precisely for the small scopes that need it.

Each ``put`` is one transaction: purge expired rows, upsert (a replaced key becomes the newest),
evict the oldest inserted rows beyond ``max_entries``. The trim deletes everything older than
the ``max_entries``-th newest row, so replicas writing at once converge without a lock.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import orjson

from slokit.cache.memory import DEFAULT_MAX_ENTRIES
from slokit.cache.remote import StoreUnavailableError, redacted
from slokit.cache.store import Entry, Neighbour, Vector
from slokit.errors import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.sql import Composed

    Row = tuple[Any, ...]

T = TypeVar("T")

DEFAULT_TABLE = "slokit_cache"
_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}\Z")
_URL_SCHEMES = ("postgresql://", "postgres://")
_COLUMNS = "key, scope, text, body, created_s, expires_s, vector"
_LIVE = "scope = %(scope)s AND expires_s > %(now)s AND vector IS NOT NULL"


@dataclass(frozen=True, slots=True, kw_only=True)
class PgvectorStoreConfig:
    """The server, table and vector size, capacity (oldest evicted first) and HNSW knobs.

    ``dimensions`` must be the embedder's; a table made for another size is refused on open.
    ``hnsw_m`` and ``hnsw_ef_construction`` apply when the index is created (pgvector's
    defaults); ``hnsw_ef_search`` is the candidate list of each search.
    """

    url: str
    dimensions: int
    table: str = DEFAULT_TABLE
    max_entries: int = DEFAULT_MAX_ENTRIES
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 40
    connect_timeout_s: float = 5.0
    statement_timeout_s: float = 5.0
    create_extension: bool = True

    def __post_init__(self) -> None:
        if not (self.url.startswith(_URL_SCHEMES) or "=" in self.url):
            raise ConfigError(
                f"postgresql url {redacted(self.url)!r}: write "
                "postgresql://user:password@host:port/database or libpq 'host=... dbname=...'"
            )
        if not 1 <= self.dimensions <= 16_000:
            raise ConfigError(f"dimensions must be in [1, 16000], got {self.dimensions}")
        if not _TABLE_NAME.match(self.table):
            raise ConfigError(
                f"table {self.table!r}: use lower-case letters, digits and '_' (at most 48)"
            )
        if self.max_entries < 1:
            raise ConfigError(f"max_entries must be >= 1, got {self.max_entries}")
        if self.hnsw_m < 2 or self.hnsw_ef_construction < 2 * self.hnsw_m:
            raise ConfigError(
                f"hnsw_m must be >= 2 and hnsw_ef_construction >= 2 * hnsw_m, got "
                f"{self.hnsw_m} and {self.hnsw_ef_construction}"
            )
        if not 1 <= self.hnsw_ef_search <= 1000:
            raise ConfigError(f"hnsw_ef_search must be in [1, 1000], got {self.hnsw_ef_search}")
        if not (self.connect_timeout_s > 0 and self.statement_timeout_s > 0):
            raise ConfigError(
                "postgresql timeouts must be > 0 s, got "
                f"connect_timeout_s={self.connect_timeout_s}, "
                f"statement_timeout_s={self.statement_timeout_s}"
            )


class PgvectorStore:
    """A :class:`Store` shared by many processes, answering exact and semantic lookups.

    Opening connects, creates the extension, table and indexes if missing, and checks the
    vector size. A dropped connection (server restart) is reopened once per call; every other
    failure to talk to the server raises :class:`StoreUnavailableError`.
    """

    __slots__ = ("_config", "_connection", "_lock", "_psycopg", "_sql")

    def __init__(self, config: PgvectorStoreConfig) -> None:
        try:
            import pgvector.psycopg  # noqa: F401, PLC0415 - optional extra, checked here
            import psycopg  # noqa: PLC0415 - optional extra
        except ImportError as error:
            raise MissingExtraError("pgvector", error.name or "psycopg") from error
        self._config = config
        self._psycopg = psycopg
        self._sql = _Statements(config)
        self._lock = threading.Lock()
        self._connection = self._connect()

    def __len__(self) -> int:
        row = self._call(lambda c: c.execute(self._sql.count).fetchone())
        return 0 if row is None else int(row[0])

    def get(self, key: str, now_s: float) -> Entry | None:
        row = self._call(lambda c: c.execute(self._sql.get, (key,)).fetchone())
        if row is None:
            return None
        entry = _entry(row)
        if entry.expired(now_s):
            self._call(lambda c: c.execute(self._sql.delete_expired, (key, now_s)))
            return None
        return entry

    def put(self, entry: Entry) -> None:
        vector = None if entry.vector is None else self._checked(entry.vector)
        row = (
            entry.key,
            entry.scope,
            entry.text,
            orjson.dumps(dict(entry.body)).decode(),
            entry.created_s,
            entry.expires_s,
            vector,
        )

        def put(connection: Connection[Row]) -> None:
            with connection.transaction(), connection.pipeline():
                connection.execute(self._sql.purge, (entry.created_s,))
                connection.execute(self._sql.upsert, row)
                connection.execute(self._sql.trim, (self._config.max_entries,))

        self._call(put)

    def search(self, scope: str, vector: Vector, k: int, now_s: float) -> list[Neighbour]:
        if k < 1:
            return []
        query = self._checked(vector)
        parameters = {"scope": scope, "now": now_s, "query": query, "k": k}
        rows = self._call(lambda c: c.execute(self._sql.search, parameters).fetchall())
        if len(rows) < k:
            rows = self._call(lambda c: c.execute(self._sql.search_exact, parameters).fetchall())
        return [Neighbour(_entry(row), 1.0 - float(row[-1])) for row in rows]

    def delete(self, key: str) -> None:
        self._call(lambda c: c.execute(self._sql.delete, (key,)))

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _checked(self, vector: Vector) -> Vector:
        if len(vector) != self._config.dimensions:
            raise ConfigError(
                f"a vector of {len(vector)} dimensions for table {self._config.table!r} of "
                f"{self._config.dimensions}: set PgvectorStoreConfig.dimensions to the "
                "embedder's (and a new table)"
            )
        return np.asarray(vector, dtype=np.float32)

    def _call(self, operation: Callable[[Connection[Row]], T]) -> T:
        psycopg = self._psycopg
        with self._lock:
            for attempt in range(2):
                try:
                    if self._connection.closed:
                        self._connection = self._connect()
                    return operation(self._connection)
                except psycopg.OperationalError as error:
                    # Reconnect once when the server dropped the connection (e.g. a restart).
                    if attempt == 1 or not self._connection.broken:
                        raise self._unavailable(error) from error
                except psycopg.Error as error:
                    raise self._unavailable(error) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> Connection[Row]:
        psycopg = self._psycopg
        from pgvector.psycopg import register_vector  # noqa: PLC0415 - optional extra
        from psycopg.types.json import set_json_loads  # noqa: PLC0415 - optional extra

        config = self._config
        options = (
            f"-c statement_timeout={math.ceil(config.statement_timeout_s * 1000)} "
            f"-c hnsw.ef_search={config.hnsw_ef_search}"
        )
        try:
            connection: Connection[Row] = psycopg.connect(
                config.url,
                autocommit=True,
                connect_timeout=max(2, math.ceil(config.connect_timeout_s)),
                options=options,
            )
        except psycopg.Error as error:
            raise self._unavailable(error) from error
        try:
            with connection.transaction():
                connection.execute(self._sql.lock)
                if config.create_extension:
                    connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
                connection.execute(self._sql.table)
                connection.execute(self._sql.vector_index)
                connection.execute(self._sql.scope_index)
                connection.execute(self._sql.expiry_index)
                row = connection.execute(self._sql.vector_type).fetchone()
            register_vector(connection)
        except psycopg.OperationalError as error:
            connection.close()
            raise self._unavailable(error) from error
        except psycopg.Error as error:
            connection.close()
            raise ConfigError(
                f"postgresql at {redacted(config.url)}: cannot set up table {config.table!r} "
                f"({error}); the server needs the pgvector extension and the user the right "
                "to create tables (or create_extension=False with the extension installed)"
            ) from error
        expected = f"vector({config.dimensions})"
        if row is None or row[0] != expected:
            connection.close()
            found = "no vector column" if row is None else row[0]
            raise ConfigError(
                f"table {config.table!r} holds {found}, not {expected}: set "
                "PgvectorStoreConfig.dimensions to the embedder's, or use another table"
            )
        set_json_loads(orjson.loads, connection)
        return connection

    def _unavailable(self, error: Exception) -> StoreUnavailableError:
        message = " ".join(str(error).split()) or type(error).__name__
        return StoreUnavailableError(
            f"postgresql at {redacted(self._config.url)}: {message}; check "
            "PgvectorStoreConfig.url and that the server is running and accepts connections"
        )


class _Statements:
    """The SQL of one table, composed once with its name quoted."""

    __slots__ = (
        "count",
        "delete",
        "delete_expired",
        "expiry_index",
        "get",
        "lock",
        "purge",
        "scope_index",
        "search",
        "search_exact",
        "table",
        "trim",
        "upsert",
        "vector_index",
        "vector_type",
    )

    def __init__(self, config: PgvectorStoreConfig) -> None:
        from psycopg import sql  # noqa: PLC0415 - optional extra

        name = config.table

        def compose(text: str, **extra: sql.Composable) -> Composed:
            return sql.SQL(text).format(
                table=sql.Identifier(name), columns=sql.SQL(_COLUMNS), live=sql.SQL(_LIVE), **extra
            )

        self.lock = compose(
            "SELECT pg_advisory_xact_lock(hashtext('slokit.cache.' || {name}))",
            name=sql.Literal(name),
        )
        self.table = compose(
            "CREATE TABLE IF NOT EXISTS {table} ("
            " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
            " key text PRIMARY KEY, scope text, text text, body jsonb NOT NULL,"
            " created_s double precision NOT NULL, expires_s double precision NOT NULL,"
            " vector vector({dimensions}))",
            dimensions=sql.Literal(config.dimensions),
        )
        self.vector_index = compose(
            "CREATE INDEX IF NOT EXISTS {index} ON {table} USING hnsw (vector vector_cosine_ops)"
            " WITH (m = {m}, ef_construction = {ef})",
            index=sql.Identifier(f"{name}_vector"),
            m=sql.Literal(config.hnsw_m),
            ef=sql.Literal(config.hnsw_ef_construction),
        )
        self.scope_index = compose(
            "CREATE INDEX IF NOT EXISTS {index} ON {table} (scope, expires_s)",
            index=sql.Identifier(f"{name}_scope"),
        )
        self.expiry_index = compose(
            "CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_s)",
            index=sql.Identifier(f"{name}_expires"),
        )
        self.vector_type = compose(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = {name}::regclass AND attname = 'vector' AND NOT attisdropped",
            name=sql.Literal(name),
        )
        self.count = compose("SELECT count(*) FROM {table}")
        self.get = compose("SELECT {columns} FROM {table} WHERE key = %s")
        self.delete = compose("DELETE FROM {table} WHERE key = %s")
        self.delete_expired = compose("DELETE FROM {table} WHERE key = %s AND expires_s <= %s")
        self.purge = compose("DELETE FROM {table} WHERE expires_s <= %s")
        self.upsert = compose(
            "INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s)"
            " ON CONFLICT (key) DO UPDATE SET seq = DEFAULT, scope = excluded.scope,"
            " text = excluded.text, body = excluded.body, created_s = excluded.created_s,"
            " expires_s = excluded.expires_s, vector = excluded.vector"
        )
        self.trim = compose(
            "DELETE FROM {table} WHERE seq <="
            " (SELECT seq FROM {table} ORDER BY seq DESC OFFSET %s LIMIT 1)"
        )
        self.search = compose(
            "SELECT {columns}, vector <=> %(query)s AS distance FROM {table}"
            " WHERE {live} ORDER BY vector <=> %(query)s LIMIT %(k)s"
        )
        # MATERIALIZED keeps the planner from the HNSW index: this search is exact.
        self.search_exact = compose(
            "WITH candidates AS MATERIALIZED (SELECT {columns} FROM {table} WHERE {live})"
            " SELECT {columns}, vector <=> %(query)s AS distance FROM candidates"
            " ORDER BY distance LIMIT %(k)s"
        )


def _entry(row: Row) -> Entry:
    key, scope, text, body, created_s, expires_s, vector = row[:7]
    return Entry(
        key=key,
        body=body,
        created_s=created_s,
        expires_s=expires_s,
        scope=scope,
        text=text,
        vector=None if vector is None else vector.to_numpy(),
    )
