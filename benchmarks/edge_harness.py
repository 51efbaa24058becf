"""What the edge benchmarks share: an instant tier, the router wrapped as a mesh service, and a
tenants file that never refuses.

`benchmarks/tenancy.py` and `benchmarks/openai_edge.py` measure the router's public edge, not
models: the cascade's three ports answer at once (k = 0 uses only the first), and the one tenant's
budgets and rate limits are set high enough never to refuse, so every figure is the edge's own
cost. Benchmarks import nothing from tests/, so the doubles they need live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc

from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.router.policy import TierPolicy
from codecascade.router.ports import AssertSet, Candidates, Execution
from codecascade.router.servicer import CascadeServicer
from codecascade.tenancy.keys import hash_key, new_key, new_key_id
from codecascade.tenancy.tenants import (
    ApiKey,
    Budget,
    Organisation,
    RateLimits,
    Tenant,
    TenantsFile,
    write_tenants,
)
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc

__all__ = ["PROMPT", "InstantTier", "RouterService", "write_open_tenant"]

PROMPT = "def f(x):\n    '''Identity.'''\n"


class InstantTier:
    """All three cascade ports, answering at once (k = 0 uses only the first)."""

    async def write_solutions(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> Candidates:
        return Candidates(("def f(x):\n    return x\n",), Usage(10, 20, 0.00002), 0.0)

    async def write_tests(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> AssertSet:
        return AssertSet((), Usage(), 0.0)

    async def run_matrix(
        self, problem: Problem, solutions: tuple[str, ...], tests: tuple[str, ...], *,
        timeout_s: float,
    ) -> Execution:  # fmt: skip
        return Execution((), 0.0)


class RouterService:
    """The cascade servicer as a mesh service (`mesh.server.running_server` registers it)."""

    service_names: Sequence[str] = ("codecascade.v1.CascadeService",)

    def __init__(self, servicer: CascadeServicer) -> None:
        self._servicer = servicer

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_CascadeServiceServicer_to_server(self._servicer, server)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def write_open_tenant(path: Path) -> str:
    """One tenant with one key, budgets and rate limits set (high enough never to refuse);
    returns the key."""
    key = new_key()
    record = ApiKey(id=new_key_id(), sha256=hash_key(key), created=datetime.now(UTC))
    tenant = Tenant(
        id="bench",
        organisation="acme",
        budget=Budget(period="day", usd=1e6, lifetime_usd=1e6),
        rate_limits=RateLimits(requests_per_min=1e9, concurrent_requests=100),
        keys=(record,),
    )
    organisation = Organisation(id="acme", budget=Budget(usd=1e6))
    write_tenants(path, TenantsFile(organisations=(organisation,), tenants=(tenant,)))
    return key
