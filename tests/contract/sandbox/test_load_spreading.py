"""Load spreading over real replicas (issue 15, docs/load-balancing.md).

Two real sandbox servers (the real servicer, runner and interceptors, each with its own test-double
backend) listen on two loopback ports: two replicas. In a cluster the client dials one headless
Service name whose DNS answer lists every ready pod; here the same address list comes from gRPC's
static `ipv4:` resolver (`ipv4:127.0.0.1:P1,127.0.0.1:P2`). Both resolvers hand the load-balancing
policy the same thing, a list of addresses, and the policy is what decides whether calls spread,
so this exercises the part that was wrong (pick_first) without a DNS server. (No hosts-file trick:
/etc/hosts here maps localhost to 127.0.0.1 only, and a test must not edit it.)

The last test checks the other half of the fix: a mesh server ages its connections
(`max_connection_age_s`), so a client's channel reconnects (and, dialling `dns:///`, resolves the
name again, which is how it finds new replicas).

Nothing sleeps: every call is awaited, and the counts are read after the calls return.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import grpc
import pytest

from codecascade.mesh.channels import ChannelOptions, channel_target, open_channel
from codecascade.mesh.server import RunningServer, running_server
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import (
    CellResult,
    ExecutionJob,
    ExecutionReport,
    Outcome,
    SolutionResult,
)
from codecascade.sandbox.server import SandboxService
from codecascade.v1 import sandbox_service_pb2 as pb
from codecascade.v1 import sandbox_service_pb2_grpc as pb_grpc

CALLS = 40


class CountingBackend:
    """Passes every test and counts the jobs that reached this replica."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.jobs = 0

    async def start(self) -> None:
        return None

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        self.jobs += 1
        rows = tuple(
            SolutionResult(i, tuple(CellResult(j, Outcome.PASSED) for j in range(len(job.tests))))
            for i in range(len(job.solutions))
        )
        return ExecutionReport(rows, self.name, 0.0, job.limits)

    async def close(self) -> None:
        return None


@pytest.fixture
async def replicas() -> AsyncIterator[list[tuple[RunningServer, CountingBackend]]]:
    async with AsyncExitStack() as stack:
        out = []
        for name in ("replica-a", "replica-b"):
            backend = CountingBackend(name)
            settings = SandboxSettings(grpc_port=0)
            running = await stack.enter_async_context(
                running_server(settings, SandboxService(settings, backend))
            )
            out.append((running, backend))
        yield out


def _request() -> pb.ExecuteRequest:
    return pb.ExecuteRequest(
        solutions=["def f(x):\n    return x\n"], tests=["assert f(1) == 1"], entry_point="f"
    )


async def _call_many(
    address: str,
    options: ChannelOptions | None,
    *,
    concurrent: bool,
    warm_up: list[CountingBackend] | None = None,
) -> None:
    """CALLS calls on one channel. With `warm_up`, calls go first, one at a time, until every
    listed replica has served one (the channel connects to each address in the background, and
    round_robin picks among the connected ones), and the counts are then reset."""
    async with open_channel(address, options=options) as channel:
        stub = pb_grpc.SandboxServiceStub(channel)
        if warm_up is not None:
            for _ in range(200):
                if all(backend.jobs for backend in warm_up):
                    break
                await stub.Execute(_request(), timeout=10)
            assert all(backend.jobs for backend in warm_up), "a replica never got a call"
            for backend in warm_up:
                backend.jobs = 0
        if concurrent:
            await asyncio.gather(*(stub.Execute(_request(), timeout=10) for _ in range(CALLS)))
        else:
            for _ in range(CALLS):
                await stub.Execute(_request(), timeout=10)


def _both(replicas: list[tuple[RunningServer, CountingBackend]]) -> str:
    return "ipv4:" + ",".join(running.address for running, _ in replicas)


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_round_robin_spreads_calls_over_both_replicas(replicas, concurrent) -> None:
    backends = [backend for _, backend in replicas]
    # The default options: round_robin.
    await _call_many(_both(replicas), None, concurrent=concurrent, warm_up=backends)
    jobs = [backend.jobs for backend in backends]
    assert sum(jobs) == CALLS
    # Both connected: round_robin takes them in turn.
    assert abs(jobs[0] - jobs[1]) <= 2, jobs


async def test_pick_first_is_the_defect_every_call_on_one_replica(replicas) -> None:
    # gRPC's default policy, which the mesh used before: one connection, one replica, for ever.
    first = ChannelOptions(lb_policy="pick_first")
    await _call_many(_both(replicas), first, concurrent=False)
    await _call_many(_both(replicas), first, concurrent=True)
    jobs = sorted(backend.jobs for _, backend in replicas)
    assert jobs == [0, 2 * CALLS]


async def test_plain_host_port_is_dialled_through_the_dns_resolver(replicas) -> None:
    running, backend = replicas[0]
    assert channel_target(running.address) == f"dns:///{running.address}"
    await _call_many(running.address, None, concurrent=False)
    assert backend.jobs == CALLS


class PeerEcho:
    """A `codecascade.mesh.server.Service` with one raw method that answers the caller's address
    as the server sees it (`ip:port`), so a test can tell one client connection from the next."""

    service_names = ("test.PeerEcho",)

    def register(self, server: grpc.aio.Server) -> None:
        async def peer(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            return context.peer().encode()

        handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(peer)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.PeerEcho", {"Peer": handler}),)
        )

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_servers_age_connections_so_clients_reconnect() -> None:
    # A short age for the test (the default is 60 s): after it the server sends GOAWAY, the
    # channel opens a new connection (and, with dns:///, resolves the name again first). Calls
    # go on back to back until a second connection shows up, bounded by a 20 s deadline;
    # nothing sleeps.
    settings = SandboxSettings(grpc_port=0, max_connection_age_s=0.2, max_connection_age_grace_s=1)
    async with running_server(settings, PeerEcho()) as running:
        async with open_channel(running.address) as channel:
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/test.PeerEcho/Peer"
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            peers: list[bytes] = []
            while len(set(peers)) < 2 and loop.time() < deadline:
                peers.append(await call(b"", timeout=10))
    assert len(set(peers)) >= 2, f"one connection for {len(peers)} calls: {set(peers)}"
    assert all(peer.startswith((b"ipv4:127.0.0.1:", b"ipv6:")) for peer in peers)
