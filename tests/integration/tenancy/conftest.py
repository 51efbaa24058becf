"""The ledger's stores, both: every test taking `store` runs against memory and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from codecascade.tenancy.ledger import LedgerStore
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.redis_store import RedisStore
from tests.integration.tenancy.redis_server import RedisServer, fresh_prefix


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def outage_redis(tmp_path) -> Iterator[RedisServer]:
    """A Redis of the test's own, which the test may stop and start again."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[LedgerStore]:
    made: LedgerStore
    if store_kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        made = RedisStore(server.url, prefix=fresh_prefix())
    else:
        made = MemoryStore()
    try:
        yield made
    finally:
        await made.close()
