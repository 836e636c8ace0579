"""The pgvector store against a real PostgreSQL 16 + pgvector (the binaries of ``pgserver``).

PostgreSQL refuses to run as root, and this machine and CI run as root: the server then runs as
a dedicated unprivileged system user (``slokit-pg``, created on demand), started with
``subprocess``'s ``user=``/``group=`` on a data directory owned by that user, listening on
127.0.0.1 and a free port only. Not root, it runs as whoever runs the tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from slokit.cache import (
    CacheConfig,
    CacheRequest,
    Calibration,
    Completion,
    Entry,
    PgvectorStore,
    PgvectorStoreConfig,
    ResponseCache,
    StoreUnavailableError,
)
from slokit.clock import ManualClock
from slokit.errors import ConfigError

psycopg = pytest.importorskip("psycopg", reason="the 'pgvector' extra is not installed")
pytest.importorskip("pgvector", reason="the 'pgvector' extra is not installed")

SERVICE_USER = "slokit-pg"
DIMENSIONS = 8


class PostgresServer:
    """PostgreSQL on 127.0.0.1 and a free port, as ``user`` (None: this process's user)."""

    def __init__(self, install: Path, data: Path, user: pwd.struct_passwd | None) -> None:
        self.install = install
        self.data = data
        self.user = user
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.install / "bin" / arguments[0]), *arguments[1:]],
            check=False,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            **self._as_user(),
        )

    def runs(self) -> bool:
        """Whether ``postgres --version`` runs as the server's user."""
        try:
            return self.run("postgres", "--version").returncode == 0
        except OSError:  # a folder on the way is closed to that user
            return False

    def initdb(self) -> None:
        done = self.run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        log = (self.data / "server.log").open("ab")
        # Throwaway data: no fsync. A clean stop still writes everything, so restarts keep it.
        command = [
            str(self.install / "bin" / "postgres"), "-D", str(self.data),
            "-h", "127.0.0.1", "-p", str(self.port), "-k", "",
            "-c", "fsync=off", "-c", "max_connections=20", "-c", "shared_buffers=32MB",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            **self._as_user(),
        )
        log.close()
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = (self.data / "server.log").read_text(errors="replace")
                pytest.fail(f"postgres exited with {self.process.returncode}:\n{text}")
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
            except psycopg.OperationalError:
                time.sleep(0.1)
            else:
                return
        pytest.fail("postgres did not accept connections within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: a checkpoint, then exit
            self.process.wait(timeout=30)
        self.process = None

    def _as_user(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _service_user() -> pwd.struct_passwd:
    """The unprivileged system user that runs postgres when the tests run as root."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    command = [
        "useradd", "--system", "--user-group", "--no-create-home",
        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_USER,
    ]  # fmt: skip
    created = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(SERVICE_USER)  # also when a concurrent run created it first
    except KeyError:
        pytest.skip(f"cannot create the system user {SERVICE_USER!r}: {created.stderr.strip()}")


def _pginstall() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pgserver (PostgreSQL + pgvector binaries) is not installed: make setup")
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (install / "bin" / "postgres").exists():
        pytest.skip(f"pgserver has no PostgreSQL binaries at {install}")
    return install


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    install = _pginstall()
    user = _service_user() if os.geteuid() == 0 else None
    scratch = Path(tempfile.mkdtemp(prefix="slokit-pg-"))  # in /tmp: reachable by any user
    try:
        data = scratch / "data"
        data.mkdir()
        server = PostgresServer(install, data, user)
        if user is not None:
            os.chown(data, user.pw_uid, user.pw_gid)
            scratch.chmod(0o755)
            if not server.runs():
                # A folder on the way to the install is closed to the service user: run a copy,
                # laid out as in site-packages (the binaries find pgserver.libs relatively).
                copy = scratch / "site-packages"
                shutil.copytree(install, copy / "pgserver" / "pginstall", symlinks=True)
                libs = install.parent.parent / "pgserver.libs"
                if libs.is_dir():
                    shutil.copytree(libs, copy / "pgserver.libs", symlinks=True)
                server.install = copy / "pgserver" / "pginstall"
        server.initdb()
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


_tables = itertools.count()


@pytest.fixture
def table() -> str:
    """Each test its own table."""
    return f"cache_{os.getpid()}_{next(_tables)}"


@pytest.fixture
def make_store(postgres: PostgresServer, table: str) -> Iterator[Callable[..., PgvectorStore]]:
    """Stores on the test server's ``table``; closed at the end."""
    stores: list[PgvectorStore] = []

    def make(**overrides: Any) -> PgvectorStore:
        settings: dict[str, Any] = {"url": postgres.url, "dimensions": DIMENSIONS, "table": table}
        store = PgvectorStore(PgvectorStoreConfig(**(settings | overrides)))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def unit(*weights: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[: len(weights)] = weights
    return vector / np.linalg.norm(vector)


def entry(
    key: str,
    vector: np.ndarray[Any, np.dtype[np.float32]] | None = None,
    *,
    created_s: float = 0.0,
    ttl_s: float = 100.0,
    scope: str = "s",
) -> Entry:
    return Entry(
        key=key,
        body={"answer": key, "nested": {"list": [1, 2.5, None]}},
        created_s=created_s,
        expires_s=created_s + ttl_s,
        scope=scope,
        text=f"text {key}",
        vector=unit(1.0) if vector is None else vector,
    )


def keys(store: PgvectorStore, candidates: Iterable[str], now_s: float = 0.0) -> list[str]:
    return [key for key in candidates if store.get(key, now_s=now_s) is not None]


def test_round_trip_keeps_every_field(make_store: Callable[..., PgvectorStore]) -> None:
    store = make_store()
    stored = entry("k1", unit(0.6, 0.8))
    store.put(stored)
    found = store.get("k1", now_s=0.0)
    assert found is not None
    assert (found.key, found.body, found.created_s, found.expires_s) == (
        "k1",
        stored.body,
        0.0,
        100.0,
    )
    assert (found.scope, found.text) == ("s", "text k1")
    assert found.vector is not None
    assert stored.vector is not None
    np.testing.assert_array_equal(found.vector, stored.vector)
    plain = Entry(key="plain", body={}, created_s=0.0, expires_s=float("inf"))
    store.put(plain)
    assert store.get("plain", now_s=1e12) == plain
    assert store.get("absent", now_s=0.0) is None
    assert len(store) == 2


def test_search_ranks_by_cosine_similarity_within_the_scope(
    make_store: Callable[..., PgvectorStore],
) -> None:
    store = make_store()
    query = unit(1.0)
    vectors = {"a": unit(1.0, 0.1), "b": unit(1.0, 1.0), "c": unit(0.0, 1.0), "d": unit(1.0, 0.5)}
    for key, vector in vectors.items():
        store.put(entry(key, vector))
    store.put(entry("same-vector-other-scope", query, scope="t"))
    found = store.search("s", query, 3, now_s=0.0)
    assert [n.entry.key for n in found] == ["a", "d", "b"]
    for neighbour in found:
        expected = float(np.dot(vectors[neighbour.entry.key], query))
        assert neighbour.similarity == pytest.approx(expected, abs=1e-6)
    assert [n.entry.key for n in store.search("t", query, 3, now_s=0.0)] == [
        "same-vector-other-scope"
    ]
    assert store.search("nobody", query, 3, now_s=0.0) == []
    assert store.search("s", query, 0, now_s=0.0) == []


def test_a_scope_is_found_when_the_hnsw_walk_meets_only_other_scopes(
    postgres: PostgresServer, table: str, make_store: Callable[..., PgvectorStore]
) -> None:
    store = make_store(hnsw_ef_search=10)
    query = unit(1.0)
    for i in range(400):  # "near" entries fill the HNSW walk's 10 candidates
        store.put(entry(f"near{i}", unit(1.0, 0.001 * i, 0.3), scope="near"))
        store.put(entry(f"far{i}", unit(0.1 + 0.001 * i, 1.0), scope="far"))
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        # With statistics, half the rows match the scope: the planner walks the HNSW graph.
        connection.execute(psycopg.sql.SQL("ANALYZE {}").format(psycopg.sql.Identifier(table)))
    found = store.search("far", query, 4, now_s=0.0)
    assert [n.entry.key for n in found] == ["far399", "far398", "far397", "far396"]
    assert [n.entry.key for n in store.search("near", query, 2, now_s=0.0)] == [
        "near0",
        "near1",
    ]


def test_ttl_runs_from_insertion_and_hits_do_not_refresh_it(
    make_store: Callable[..., PgvectorStore],
) -> None:
    store = make_store()
    store.put(entry("k1", created_s=1_000.0, ttl_s=60.0))
    for now_s in [1_000.0, 1_030.0, 1_059.9]:  # hits along the way
        assert store.get("k1", now_s=now_s) is not None
        assert len(store.search("s", unit(1.0), 4, now_s=now_s)) == 1
    assert store.search("s", unit(1.0), 4, now_s=1_060.0) == []
    assert store.get("k1", now_s=1_060.0) is None
    assert len(store) == 0  # dropped on sight, not only hidden


def test_insertion_purges_expired_entries(make_store: Callable[..., PgvectorStore]) -> None:
    store = make_store(max_entries=3)
    store.put(entry("a", created_s=0.0, ttl_s=100.0))
    store.put(entry("b", created_s=0.0, ttl_s=5.0))
    store.put(entry("c", created_s=0.0, ttl_s=100.0))
    store.put(entry("d", created_s=10.0, ttl_s=100.0))  # "b" has expired: "a" stays
    assert keys(store, "abcd", now_s=10.0) == ["a", "c", "d"]
    assert len(store) == 3


def test_capacity_evicts_the_oldest_inserted_first(
    make_store: Callable[..., PgvectorStore],
) -> None:
    store = make_store(max_entries=3)
    for key in "abc":
        store.put(entry(key))
    store.put(entry("a"))  # replacing makes "a" the newest
    store.put(entry("d"))
    assert len(store) == 3
    assert keys(store, "abcd") == ["a", "c", "d"]
    store.put(entry("e"))
    assert keys(store, "abcde") == ["a", "d", "e"]
    assert {n.entry.key for n in store.search("s", unit(1.0), 10, now_s=0.0)} == {"a", "d", "e"}


def test_delete_removes_the_entry_for_every_replica(
    make_store: Callable[..., PgvectorStore],
) -> None:
    writer, reader = make_store(), make_store()
    writer.put(entry("k1"))
    writer.put(entry("k2"))
    assert reader.get("k1", now_s=0.0) is not None
    reader.delete("k1")
    reader.delete("never-there")
    assert keys(writer, ["k1", "k2"]) == ["k2"]
    assert [n.entry.key for n in writer.search("s", unit(1.0), 4, now_s=0.0)] == ["k2"]


def test_entries_survive_a_server_restart_and_the_store_reconnects(
    postgres: PostgresServer, make_store: Callable[..., PgvectorStore]
) -> None:
    store = make_store(max_entries=2)
    for key in "abc":
        store.put(entry(key, created_s=0.0))
    postgres.stop()
    postgres.start()
    assert keys(store, "abc") == ["b", "c"]  # the same store, on a new connection
    reopened = make_store(max_entries=2)
    reopened.put(entry("d"))  # and the eviction order survived
    assert keys(reopened, "abcd") == ["c", "d"]
    assert [n.entry.key for n in reopened.search("s", unit(1.0), 4, now_s=0.0)] != []


def test_a_table_of_another_vector_size_is_refused(
    make_store: Callable[..., PgvectorStore],
) -> None:
    store = make_store()
    with pytest.raises(ConfigError, match=r"vector\(8\), not vector\(16\)"):
        make_store(dimensions=16)
    with pytest.raises(ConfigError, match="4 dimensions"):
        store.put(entry("k1", np.ones(4, dtype=np.float32) / 2))
    with pytest.raises(ConfigError, match="4 dimensions"):
        store.search("s", np.ones(4, dtype=np.float32) / 2, 1, now_s=0.0)


def test_an_unreachable_server_is_a_clear_error() -> None:
    url = f"postgresql://postgres:secret@127.0.0.1:{_free_port()}/postgres"
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1.*server is running") as error:
        PgvectorStore(PgvectorStoreConfig(url=url, dimensions=DIMENSIONS, connect_timeout_s=2))
    assert "secret" not in str(error.value)


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="postgresql://user"):
        PgvectorStoreConfig(url="mysql://db", dimensions=8)
    with pytest.raises(ConfigError, match="table"):
        PgvectorStoreConfig(url="postgresql://db", dimensions=8, table='x"; DROP TABLE y')
    with pytest.raises(ConfigError, match="dimensions"):
        PgvectorStoreConfig(url="postgresql://db", dimensions=0)


def ask(text: str, *, tenant: str = "acme") -> CacheRequest:
    return CacheRequest.from_openai(
        tenant=tenant, model="m", messages=[{"role": "user", "content": text}], temperature=0
    )


def _answer(text: str) -> Callable[[], Any]:
    async def compute() -> Completion:
        return Completion({"choices": [{"message": {"content": text}, "finish_reason": "stop"}]})

    return compute


@pytest.mark.asyncio
async def test_replicas_share_exact_and_semantic_hits_through_the_response_cache(
    make_store: Callable[..., PgvectorStore],
    embedder: Any,
    similarity_calibration: Callable[..., Calibration],
) -> None:
    clock = ManualClock(1_000.0)

    def replica() -> ResponseCache:
        return ResponseCache(
            make_store(dimensions=embedder.dimensions),
            config=CacheConfig(ttl_s=60.0),
            embedder=embedder,
            calibration=similarity_calibration(0.8),
            clock=clock,
        )

    first, second = replica(), replica()
    computed = await first.get_or_compute(ask("How do I reset my password?"), _answer("A"))
    assert computed.source == "computed"
    exact = await second.get_or_compute(ask("How do I reset my password?"), _answer("B"))
    assert exact.source == "exact"
    near = await second.get_or_compute(ask("How do I reset my password ?"), _answer("C"))
    assert (near.source, near.body["choices"][0]["message"]["content"]) == ("semantic", "A")
    assert near.similarity is not None
    assert near.similarity >= 0.8
    other_tenant = await second.lookup(ask("How do I reset my password?", tenant="globex"))
    assert other_tenant is None
    clock.advance(60.0)
    assert await second.lookup(ask("How do I reset my password ?")) is None
