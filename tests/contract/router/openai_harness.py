"""The router's OpenAI-compatible HTTP API in-process: the real gateway, app and uvicorn server
on 127.0.0.1:0, a tenants file, the in-process ledger; the cascade's ports are doubles."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from codecascade.core.usage import Usage
from codecascade.router.cascade import Cascade
from codecascade.router.gateway import Gateway
from codecascade.router.metering import WorstCase
from codecascade.router.openai.app import build_app
from codecascade.router.openai.server import HttpServer
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.ports import AssertSet, Candidates, Execution
from codecascade.tenancy.edge import Edge
from codecascade.tenancy.ledger import Ledger
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateLimiter
from codecascade.tenancy.tenants import Tenant, TenantDirectory
from tests.contract.router.edge_harness import PRICES, with_keys
from tests.unit.tenancy.helpers import Clock, write

S = TierPolicy(tier="S", k=2, test_lines=2, threshold=0.9, max_tokens=256)
M = TierPolicy(tier="M", k=2, test_lines=2, threshold=0.9, max_tokens=256)
POLICY = CascadePolicy(tiers=(S, M))
HUMANEVAL = 'def f(x):\n    """Return x."""\n'
CODE = "def f(x):\n    return x\n"


class Ports:
    """The cascade's three ports as doubles: each tier writes `CODE` (k times), two asserts,
    and the matrix says whether the tier's tests pass (`passing`). Records what it was asked."""

    def __init__(self, passing: Mapping[str, bool] | None = None) -> None:
        self.passing = dict(passing or {"S": False, "M": True})
        self.asked: list[tuple[str, int, int, int | None, str]] = []
        self.failure: Exception | None = None
        self.code = CODE

    async def write_solutions(self, tier, problem, *, seed, timeout_s):
        if self.failure is not None:
            raise self.failure
        self.asked.append((tier.tier, tier.k, tier.max_tokens, seed, problem.entry_point))
        codes = tuple(f"# {tier.tier}\n{self.code}" for _ in range(max(tier.k, 1)))
        return Candidates(codes, Usage(10, 100, 0.001), 0.0)

    async def write_tests(self, tier, problem, *, seed, timeout_s):
        return AssertSet(("assert f(1) == 1", "assert f(2) == 2"), Usage(5, 20, 0.0001), 0.0)

    async def run_matrix(self, problem, solutions, tests, *, timeout_s):
        tier = solutions[0].split()[1]
        ok = self.passing.get(tier, True)
        return Execution(tuple(tuple(ok for _ in tests) for _ in solutions), 0.0)


@dataclass
class Served:
    base_url: str
    keys: dict[str, str]
    clock: Clock
    edge: Edge
    path: Path


@contextlib.asynccontextmanager
async def openai_router(
    tmp_path: Path,
    ports: Ports,
    tenants: Sequence[Tenant] = (Tenant(id="team-a"),),
    *,
    policy: CascadePolicy = POLICY,
    policies: Mapping[str, CascadePolicy] | None = None,
    auth: bool = True,
) -> AsyncIterator[Served]:
    path = tmp_path / "tenants.yaml"
    made, keys = with_keys(tenants)
    write(path, *made)
    clock = Clock()
    edge = Edge(
        TenantDirectory(path) if auth else None,
        Ledger(MemoryStore(), clock=clock),
        RateLimiter(clock),
    )
    cascade = Cascade(policy, ports, ports, ports)
    gateway = Gateway(cascade, edge, WorstCase(PRICES), policies=policies)
    server = HttpServer(
        build_app(gateway, tracer_provider=TracerProvider()), "127.0.0.1", 0, grace_s=1.0
    )
    await server.start()
    try:
        yield Served(server.base_url, keys, clock, edge, path)
    finally:
        await server.stop()
