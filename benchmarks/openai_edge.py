"""What the OpenAI-compatible HTTP edge costs per request against the gRPC edge.

Whole requests to one in-process router: a single greedy tier (k = 0) that answers at once (a
double defined here, no model runs), auth on with a tenants file, the memory ledger and rate
limits on, one Gateway shared by both edges. Each round sends one gRPC `Generate` (grpc.aio
client) and one HTTP `chat/completions` (httpx, keep-alive), alternating which goes first, after
warm-up calls on both; the same process, the same tier, the same tenant. Prints p50/p95 for
each edge and the HTTP/gRPC ratios.

    python benchmarks/openai_edge.py --requests 500
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from edge_harness import PROMPT, InstantTier, RouterService, write_open_tenant

from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from codecascade.router.cascade import Cascade
from codecascade.router.gateway import Gateway
from codecascade.router.metering import WorstCase
from codecascade.router.openai.app import build_app
from codecascade.router.openai.server import HttpServer
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.servicer import CascadeServicer
from codecascade.tenancy.edge import Edge
from codecascade.tenancy.ledger import Ledger
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateLimiter
from codecascade.tenancy.tenants import (
    TenantDirectory,
)
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc

WARM_UP = 50


def _percentiles(took: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1000 for t in took)
    return statistics.median(ms), ms[int(len(ms) * 0.95) - 1]


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "tenants.yaml"
        key = write_open_tenant(path)
        ports = InstantTier()
        policy = CascadePolicy(tiers=(TierPolicy(tier="S", k=0, max_tokens=100),))
        cascade = Cascade(policy, ports, ports, ports)
        edge = Edge(TenantDirectory(path), Ledger(MemoryStore()), RateLimiter())
        gateway = Gateway(cascade, edge, WorstCase({"S": 1.0}))
        http = HttpServer(build_app(gateway), "127.0.0.1", 0, grace_s=1)
        await http.start()
        try:
            servicer = CascadeServicer(cascade, gateway=gateway)
            async with (
                running_server(ServiceSettings(grpc_port=0), RouterService(servicer)) as server,
                open_channel(server.address) as channel,
                httpx.AsyncClient(base_url=http.base_url, timeout=30) as client,
            ):
                stub = pb_grpc.CascadeServiceStub(channel)
                metadata = (("authorization", f"Bearer {key}"),)
                request = pb.GenerateRequest(task=pb.Task(prompt=PROMPT), seed=1)
                headers = {"authorization": f"Bearer {key}"}
                body = {
                    "model": "cascade",
                    "messages": [{"role": "user", "content": PROMPT}],
                    "seed": 1,
                }

                async def grpc_call() -> float:
                    started = time.perf_counter()
                    await stub.Generate(request, metadata=metadata, timeout=30)
                    return time.perf_counter() - started

                async def http_call() -> float:
                    started = time.perf_counter()
                    response = await client.post("/chat/completions", json=body, headers=headers)
                    took = time.perf_counter() - started
                    if response.status_code != 200:
                        raise SystemExit(f"HTTP {response.status_code}: {response.text}")
                    return took

                for _ in range(WARM_UP):  # open the connections, warm both paths
                    await grpc_call()
                    await http_call()
                grpc_took: list[float] = []
                http_took: list[float] = []
                for number in range(requests):  # alternate which edge goes first
                    if number % 2:
                        http_took.append(await http_call())
                        grpc_took.append(await grpc_call())
                    else:
                        grpc_took.append(await grpc_call())
                        http_took.append(await http_call())
        finally:
            await http.stop()
    g50, g95 = _percentiles(grpc_took)
    h50, h95 = _percentiles(http_took)
    print(f"{requests} requests per edge, alternating, after {WARM_UP} warm-up calls each")
    print(f"{'gRPC Generate':<24} p50 {g50:6.3f} ms  p95 {g95:6.3f} ms")
    print(f"{'HTTP chat/completions':<24} p50 {h50:6.3f} ms  p95 {h95:6.3f} ms")
    print(f"{'HTTP / gRPC':<24} p50 {h50 / g50:6.2f}x     p95 {h95 / g95:6.2f}x")
    print(f"{'HTTP - gRPC':<24} p50 {h50 - g50:+6.3f} ms  p95 {h95 - g95:+6.3f} ms")
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} cores, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}: "
        "the absolute figures are noisy on a shared machine; the ratio is what matters"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    logging.disable(logging.INFO)  # the HTTP server's start-up line; errors still show
    asyncio.run(main(parser.parse_args().requests))
