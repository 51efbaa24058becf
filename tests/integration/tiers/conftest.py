"""Fixtures: a shared S tier server, and a factory for private ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.tiers.tier_helpers import TierServer, start_server


@pytest.fixture(scope="module")
def tier_s() -> Iterator[TierServer]:
    """One S server for the module; queue size 0 so a second concurrent request is refused."""
    server = start_server("S", "--queue-size", "0")
    yield server
    server.stop()


@pytest.fixture
def start_tier() -> Iterator[Callable[..., TierServer]]:
    """A factory for private servers (tests that kill them); all are stopped afterwards."""
    started: list[TierServer] = []

    def start(name: str, *extra: str) -> TierServer:
        server = start_server(name, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
