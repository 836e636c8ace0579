"""Servers more than one test package uses, started for real on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from servers import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: run `make system-deps` (apt redis-server)")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
