"""A real redis-server for the limits tests (installed with apt-get if missing, see tests/redis_server.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> str:
    """A Redis key prefix of this test's own, so tests sharing the session's Redis never meet."""
    return f"t{next(_prefixes)}-{request.node.name[:40]}"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis for one test, which may kill and restart it."""
    server = RedisServer().start()
    yield server
    server.cleanup()
