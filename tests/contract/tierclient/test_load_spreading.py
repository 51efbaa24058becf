"""Tier calls spread over a tier's replicas (docs/load-balancing.md, "Tiers").

Two real OIP v2 gRPC servers listen on two loopback ports: two replicas of one tier. Each is a
tiny in-process `inference.GRPCInferenceService` built on tritonclient's own generated stubs
(`tritonclient.grpc.service_pb2_grpc`; KServe's server cannot share a process with tritonclient,
both register the `inference.*` protobuf symbols), answering ServerReady, ModelReady and
ModelInfer with the replica's name as `text_output` and counting the calls it served.

The real `OipTierClient` dials both through one target, `ipv4:127.0.0.1:P1,127.0.0.1:P2` (gRPC's
static resolver hands the load-balancing policy the same address list a headless Service's DNS
answer gives; tests/contract/sandbox/test_load_spreading.py explains the choice). With the
default options (round_robin) calls split evenly between the replicas once both are connected;
with `pick_first`, tritonclient's default before, every call lands on one replica.

Nothing sleeps: every call is awaited, and the counts are read after the calls return.
"""

from __future__ import annotations

import asyncio
import struct
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from codecascade.core.sampling import SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.mesh.channels import ChannelOptions
from codecascade.tierclient.oip_client import OipTierClient

CALLS = 40
MODEL = "m"
PARAMS = SamplingParams(max_tokens=8)


class Replica(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """One OIP v2 replica: ready, and answers every ModelInfer with its own name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.address = ""

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerReadyResponse(ready=True)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        return service_pb2.ModelReadyResponse(ready=request.name == MODEL)

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        self.calls += 1
        text = self.name.encode()
        response = service_pb2.ModelInferResponse(model_name=request.model_name, id=request.id)
        for name, datatype, raw in (
            # BYTES tensors travel as 4-byte little-endian lengths, each followed by the bytes.
            ("text_output", "BYTES", struct.pack("<I", len(text)) + text),
            ("num_output_tokens", "INT32", np.array([1], dtype=np.int32).tobytes()),
        ):
            output = response.outputs.add()
            output.name = name
            output.datatype = datatype
            output.shape.append(1)
            response.raw_output_contents.append(raw)
        return response


@pytest.fixture
async def replicas() -> AsyncIterator[list[Replica]]:
    async with AsyncExitStack() as stack:
        out = []
        for name in ("replica-a", "replica-b"):
            replica = Replica(name)
            server = grpc.aio.server()
            service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(replica, server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            stack.push_async_callback(server.stop, None)
            replica.address = f"127.0.0.1:{port}"
            out.append(replica)
        yield out


def _spec(address: str) -> TierSpec:
    return TierSpec(name="M", address=address, model=MODEL, price_per_1k_tokens=0.1, timeout_s=10.0)


def _both(replicas: list[Replica]) -> str:
    return "ipv4:" + ",".join(replica.address for replica in replicas)


async def _call_many(
    client: OipTierClient, *, concurrent: bool, warm_up: list[Replica] | None = None
) -> Counter[str]:
    """CALLS generate calls; returns how many answers each replica's name got. With `warm_up`,
    calls go first, one at a time, until every listed replica has served one (the channel
    connects to each address in the background, and round_robin picks among the connected
    ones), and the counts are then reset."""
    if warm_up is not None:
        for _ in range(200):
            if all(replica.calls for replica in warm_up):
                break
            await client.generate("p", PARAMS)
        assert all(replica.calls for replica in warm_up), "a replica never got a call"
        for replica in warm_up:
            replica.calls = 0
    if concurrent:
        results = await asyncio.gather(*(client.generate("p", PARAMS) for _ in range(CALLS)))
    else:
        results = [await client.generate("p", PARAMS) for _ in range(CALLS)]
    return Counter(result.texts[0] for result in results)


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_round_robin_spreads_tier_calls_over_both_replicas(replicas, concurrent) -> None:
    client = OipTierClient(_spec(_both(replicas)))  # default options: round_robin
    try:
        assert await client.ready()
        answers = await _call_many(client, concurrent=concurrent, warm_up=replicas)
    finally:
        await client.close()
    calls = [replica.calls for replica in replicas]
    assert sum(calls) == CALLS
    # Every answer came from the replica that counted it.
    assert answers == Counter({r.name: r.calls for r in replicas if r.calls})
    # Both connected: round_robin takes them in turn.
    assert abs(calls[0] - calls[1]) <= 2, calls


async def test_pick_first_is_the_defect_every_tier_call_on_one_replica(replicas) -> None:
    # tritonclient's default policy, which tier calls used before: one connection, one replica.
    client = OipTierClient(
        _spec(_both(replicas)), channel_options=ChannelOptions(lb_policy="pick_first")
    )
    try:
        await _call_many(client, concurrent=False)
        await _call_many(client, concurrent=True)
    finally:
        await client.close()
    assert sorted(replica.calls for replica in replicas) == [0, 2 * CALLS]


async def test_plain_host_port_tier_address_still_works(replicas) -> None:
    # A plain `host:port` is dialled as `dns:///host:port`.
    client = OipTierClient(_spec(replicas[0].address))
    try:
        assert await client.ready()
        answers = await _call_many(client, concurrent=False)
    finally:
        await client.close()
    assert answers == Counter({"replica-a": CALLS})
    assert [replica.calls for replica in replicas] == [CALLS, 0]
