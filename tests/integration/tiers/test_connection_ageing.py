"""The tier server ages its gRPC connections like the mesh's servers (docs/load-balancing.md).

A real `cascade serve tier` (model S) runs KServe's v2 gRPC service through `TierModelServer`.
With `MAX_CONNECTION_AGE_S` short, the server sends GOAWAY once a connection is that old: the
client's channel leaves READY without any call failing, and its next call opens a new connection
(dialling `dns:///`, after resolving the name again: how a tier client finds new replicas). With
ageing off the channel stays READY.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest

from tests.integration.tiers.tier_helpers import TierServer

SERVER_LIVE = "/inference.GRPCInferenceService/ServerLive"  # ServerLiveRequest{}: empty bytes
READY = grpc.ChannelConnectivity.READY


async def _leaves_ready(server: TierServer, within_s: float) -> bool:
    """Calls ServerLive once; whether the channel then leaves READY within `within_s`."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        live = channel.unary_unary(SERVER_LIVE)
        await live(b"", timeout=10)
        assert channel.get_state() == READY
        try:
            await asyncio.wait_for(channel.wait_for_state_change(READY), within_s)
        except TimeoutError:
            return False
        return True


@pytest.mark.parametrize(("age", "ages"), [("1", True), ("0", False)])
async def test_the_tier_server_ages_connections(
    start_tier: Callable[..., TierServer], monkeypatch: pytest.MonkeyPatch, age: str, ages: bool
) -> None:
    # GOAWAY comes after 1 s (+-10 % jitter); with ageing off nothing happens in 5 s.
    monkeypatch.setenv("MAX_CONNECTION_AGE_S", age)
    monkeypatch.setenv("MAX_CONNECTION_AGE_GRACE_S", "1")
    server = start_tier("S")
    assert await _leaves_ready(server, within_s=5.0) is ages
