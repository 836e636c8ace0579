"""The SQLite store: survives restarts, keeps expiry, evicts, and survives kill -9 mid-write."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from slokit.cache import Entry, SqliteStore, SqliteStoreConfig


def entry(key: str, *, created_s: float = 0.0, ttl_s: float = 100.0) -> Entry:
    vector = np.zeros(8, dtype=np.float32)
    vector[int(key.removeprefix("k")) % 8] = 1.0
    return Entry(
        key=key,
        body={"answer": key},
        created_s=created_s,
        expires_s=created_s + ttl_s,
        scope="s",
        text=f"text {key}",
        vector=vector,
    )


def test_entries_survive_a_restart_with_their_vectors(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    store = SqliteStore(SqliteStoreConfig(path=path), now_s=0.0)
    for i in range(10):
        store.put(entry(f"k{i}"))
    store.close()
    reopened = SqliteStore(SqliteStoreConfig(path=path), now_s=1.0)
    assert len(reopened) == 10
    found = reopened.get("k3", now_s=1.0)
    assert found is not None
    assert found.body == {"answer": "k3"}
    vector = entry("k3").vector
    assert vector is not None
    assert reopened.search("s", vector, 1, now_s=1.0)[0].similarity == 1.0
    reopened.close()


def test_expiry_holds_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    store = SqliteStore(SqliteStoreConfig(path=path), now_s=0.0)
    store.put(entry("k1", ttl_s=5.0))
    store.put(entry("k2", ttl_s=50.0))
    store.close()
    reopened = SqliteStore(SqliteStoreConfig(path=path), now_s=10.0)
    assert reopened.get("k1", now_s=10.0) is None
    assert reopened.get("k2", now_s=10.0) is not None
    reopened.close()


def test_capacity_evicts_the_oldest_on_disk_too(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    store = SqliteStore(SqliteStoreConfig(path=path, max_entries=4), now_s=0.0)
    for i in range(6):
        store.put(entry(f"k{i}"))
    store.close()
    reopened = SqliteStore(SqliteStoreConfig(path=path, max_entries=4), now_s=0.0)
    assert len(reopened) == 4
    assert reopened.get("k0", now_s=0.0) is None
    assert reopened.get("k5", now_s=0.0) is not None
    reopened.close()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from slokit.cache import Entry, SqliteStore, SqliteStoreConfig

    store = SqliteStore(SqliteStoreConfig(path=Path(sys.argv[1])), now_s=0.0)
    body = {"content": "x" * 20000}
    i = 0
    while True:
        vector = np.ones(8, dtype=np.float32) / np.sqrt(8.0)
        store.put(Entry(key=f"k{i}", body=body, created_s=0.0, expires_s=1e12,
                        scope="s", text=f"t{i}", vector=vector))
        print(f"k{i}", flush=True)  # printed only once the put has committed
        i += 1
    """
)


def test_kill_9_during_writes_loses_no_committed_entry_and_corrupts_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cache.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    committed = [writer.stdout.readline().strip() for _ in range(100)]
    writer.send_signal(signal.SIGKILL)  # while it is writing the next entries
    writer.wait()
    committed += [line.strip() for line in writer.stdout.read().splitlines()]
    writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SqliteStore(SqliteStoreConfig(path=path), now_s=1.0)
    missing = [key for key in committed if store.get(key, now_s=1.0) is None]
    assert missing == []
    assert len(store) >= len(committed)
    store.put(entry("k999999"))  # and the file still takes writes
    store.close()
