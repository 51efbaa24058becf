"""What the public edge adds to a request: authentication, rate limits and the budget ledger.

Two measures. The edge alone, per request as the router's servicer does it for one tier call:
authenticate the key (a stat of the tenants file, a sha256, a lookup), admit under the tenant's
rate limits, reserve the tier's worst case on the tenant's and its organisation's accounts,
settle the actual cost. And whole Generate calls over real gRPC to an in-process router (one
greedy tier, a double that answers at once), with auth off and with auth and budgets on each
store: the difference is what the edge adds to a request. Redis is Debian's redis-server,
started here on a free loopback port; with it, the ledger and the rate limits both live there
(admit, reserve, settle, record tokens, release: five round trips, four of them Lua scripts).

    python benchmarks/tenancy.py --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from edge_harness import PROMPT, InstantTier, RouterService, write_open_tenant

from codecascade.cli.supervisor import free_port
from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from codecascade.router.cascade import Cascade
from codecascade.router.metering import WorstCase
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.servicer import CascadeServicer
from codecascade.tenancy.edge import Edge
from codecascade.tenancy.ledger import Ledger, LedgerStore
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateGate, RateLimiter
from codecascade.tenancy.redis_limits import RedisRateLimiter
from codecascade.tenancy.redis_store import RedisStore
from codecascade.tenancy.tenants import (
    TenantDirectory,
)
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc


async def _edge(
    store: LedgerStore, limiter: RateGate, path: Path, key: str, requests: int
) -> list[float]:
    edge = Edge(TenantDirectory(path), Ledger(store), limiter)
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        caller = edge.authenticate(f"Bearer {key}", "default")
        slot = await edge.admit(caller, hold_s=60)
        hold = await edge.ledger.reserve(caller, 0.001, hold_s=60)
        await hold.settle(0.0005, tier="S", tokens=50)
        await slot.release()
        took.append(time.perf_counter() - started)
    return took


async def _rpc(
    path: Path, key: str, store: LedgerStore | None, limiter: RateGate, requests: int
) -> list[float]:
    """Generate calls, one after another, through the edge (auth off when there is no store)."""
    ports = InstantTier()
    policy = CascadePolicy(tiers=(TierPolicy(tier="S", k=0, max_tokens=100),))
    edge = Edge(TenantDirectory(path), Ledger(store), limiter) if store else None
    servicer = CascadeServicer(Cascade(policy, ports, ports, ports), edge, WorstCase({"S": 1.0}))
    metadata = (("authorization", f"Bearer {key}"),) if store else ()
    request = pb.GenerateRequest(task=pb.Task(prompt=PROMPT))
    async with running_server(ServiceSettings(grpc_port=0), RouterService(servicer)) as server:
        async with open_channel(server.address) as channel:
            stub = pb_grpc.CascadeServiceStub(channel)
            took = []
            for number in range(requests + 20):  # the first 20 warm the channel
                started = time.perf_counter()
                await stub.Generate(request, metadata=metadata, timeout=30)
                if number >= 20:
                    took.append(time.perf_counter() - started)
    return took


def _report(name: str, took: list[float]) -> None:
    ms = sorted(t * 1000 for t in took)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{name:<20} p50 {statistics.median(ms):6.3f} ms  p95 {p95:6.3f} ms  ({len(ms)})")


async def main(requests: int) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: run scripts/setup.sh")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "tenants.yaml"
        key = write_open_tenant(path)
        _report("edge, memory", await _edge(MemoryStore(), RateLimiter(), path, key, requests))
        port = free_port()
        redis = await asyncio.create_subprocess_exec(
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", scratch,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert redis.stdout is not None
        while b"Ready to accept connections" not in (line := await redis.stdout.readline()):
            if not line:
                raise SystemExit("redis-server did not start")
        drain = asyncio.ensure_future(redis.stdout.read())  # keep its log from filling the pipe
        try:
            url, prefix = f"redis://127.0.0.1:{port}/0", f"bench:{{{uuid.uuid4()}}}:"
            store = RedisStore(url, prefix=prefix)
            limits = RedisRateLimiter(url, prefix=prefix)
            await _edge(store, limits, path, key, 50)  # load the scripts, open the connections
            _report("edge, redis", await _edge(store, limits, path, key, requests))
            calls = max(requests // 4, 50)
            _report("Generate, auth off", await _rpc(path, key, None, RateLimiter(), calls))
            _report("Generate, memory", await _rpc(path, key, MemoryStore(), RateLimiter(), calls))
            _report("Generate, redis", await _rpc(path, key, store, limits, calls))
            await store.close()
            await limits.close()
        finally:
            redis.terminate()  # by its PID
            await redis.wait()
            await drain


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
