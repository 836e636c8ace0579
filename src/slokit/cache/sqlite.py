"""The embedded persistent store: SQLite (WAL, full sync) on disk, an in-process index in memory.

Every ``put`` is one committed transaction before it returns, so a process killed at any moment
(kill -9 included) loses no committed entry and leaves a consistent file; on open the live
entries are read back into the in-memory index. One process owns the file at a time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from slokit.cache.index import DEFAULT_ANN_THRESHOLD, HnswConfig
from slokit.cache.memory import DEFAULT_MAX_ENTRIES, MemoryStore, MemoryStoreConfig
from slokit.cache.store import Entry, Neighbour, Vector
from slokit.errors import ConfigError, DataError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    scope TEXT,
    text TEXT,
    vector BLOB,
    body BLOB NOT NULL,
    created_s REAL NOT NULL,
    expires_s REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class SqliteStoreConfig:
    """The database file, capacity (oldest inserted evicted first) and the index switch."""

    path: Path
    max_entries: int = DEFAULT_MAX_ENTRIES
    ann_threshold: int = DEFAULT_ANN_THRESHOLD
    hnsw: HnswConfig | None = None
    busy_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ConfigError(f"max_entries must be >= 1, got {self.max_entries}")


class SqliteStore:
    """A :class:`MemoryStore` whose every change is first committed to a SQLite file."""

    __slots__ = ("_config", "_connection", "_lock", "_memory")

    def __init__(self, config: SqliteStoreConfig, *, now_s: float | None = None) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._memory = MemoryStore(
            MemoryStoreConfig(
                max_entries=config.max_entries,
                ann_threshold=config.ann_threshold,
                hnsw=config.hnsw,
            )
        )
        try:
            self._connection = sqlite3.connect(
                config.path,
                timeout=config.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.execute(_SCHEMA)
            self._load(time.time() if now_s is None else now_s)
        except sqlite3.DatabaseError as error:
            raise DataError(f"{config.path}: not a usable cache database ({error})") from error

    def __len__(self) -> int:
        return len(self._memory)

    def get(self, key: str, now_s: float) -> Entry | None:
        with self._lock:
            entry = self._memory.get(key, now_s)
            if entry is None:
                self._execute("DELETE FROM entries WHERE key = ? AND expires_s <= ?", key, now_s)
            return entry

    def put(self, entry: Entry) -> None:
        vector = None if entry.vector is None else np.asarray(entry.vector, np.float32).tobytes()
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute("DELETE FROM entries WHERE key = ?", (entry.key,))
                (count,) = connection.execute("SELECT count(*) FROM entries").fetchone()
                evicted = [
                    key
                    for (key,) in connection.execute(
                        "DELETE FROM entries WHERE seq IN "
                        "(SELECT seq FROM entries ORDER BY seq LIMIT ?) RETURNING key",
                        (max(0, count - self._config.max_entries + 1),),
                    ).fetchall()
                ]
                connection.execute(
                    "INSERT INTO entries (key, scope, text, vector, body, created_s, expires_s) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.key,
                        entry.scope,
                        entry.text,
                        vector,
                        orjson.dumps(dict(entry.body)),
                        entry.created_s,
                        entry.expires_s,
                    ),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            for key in evicted:
                self._memory.delete(key)
            self._memory.put(entry)

    def search(self, scope: str, vector: Vector, k: int, now_s: float) -> list[Neighbour]:
        with self._lock:
            return self._memory.search(scope, vector, k, now_s)

    def delete(self, key: str) -> None:
        with self._lock:
            self._execute("DELETE FROM entries WHERE key = ?", key)
            self._memory.delete(key)

    def close(self) -> None:
        with self._lock:
            self._connection.close()
            self._memory.close()

    def _execute(self, sql: str, *parameters: object) -> None:
        self._connection.execute(sql, parameters)

    def _load(self, now_s: float) -> None:
        self._execute("DELETE FROM entries WHERE expires_s <= ?", now_s)
        rows = self._connection.execute(
            "SELECT key, scope, text, vector, body, created_s, expires_s FROM entries ORDER BY seq"
        )
        self._memory.put_many(
            [
                Entry(
                    key=key,
                    body=orjson.loads(body),
                    created_s=created_s,
                    expires_s=expires_s,
                    scope=scope,
                    text=text,
                    vector=None if vector is None else np.frombuffer(vector, dtype=np.float32),
                )
                for key, scope, text, vector, body, created_s, expires_s in rows
            ]
        )
