"""An in-process router with its public edge on: a tenants file, a ledger, rate limits.

Shared by the router's contract tests (memory store) and the tenancy integration tests (both
stores). Tiers are the project's test doubles; no model runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from opentelemetry.sdk.trace import TracerProvider

from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from codecascade.router.cascade import Cascade
from codecascade.router.metering import WorstCase
from codecascade.router.metrics import TenantMetrics
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.servicer import CascadeServicer
from codecascade.router.solutions import TierSolutionWriter
from codecascade.tenancy.admission import Admission
from codecascade.tenancy.edge import Edge
from codecascade.tenancy.ledger import Ledger, LedgerStore
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.ratelimit import RateLimiter
from codecascade.tenancy.tenants import Organisation, Tenant, TenantDirectory
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from tests.doubles import ScriptedTier, scripted_registry
from tests.unit.tenancy.helpers import Clock, keyed, write

# One greedy answer from S, at most 100 tokens at $1 per 1k: a worst case of exactly $0.10.
GREEDY_S = CascadePolicy(tiers=(TierPolicy(tier="S", k=0, max_tokens=100),))
PRICES = {"S": 1.0, "M": 10.0}
PROMPT = "def f(x):\n    '''Identity.'''\n"


class HeldTier(ScriptedTier):
    """tests.doubles.ScriptedTier ($0.02 per call) that holds every call until `go` is set."""

    def __init__(self) -> None:
        super().__init__(("```python\ndef f(x):\n    return x\n```",))
        self.entered = 0
        self.changed = asyncio.Event()
        self.go = asyncio.Event()
        self.go.set()

    async def generate(self, prompt, params, *, timeout_s=None, prompt_format=None):
        self.entered += 1
        self.changed.set()
        await self.go.wait()
        return await super().generate(
            prompt, params, timeout_s=timeout_s, prompt_format=prompt_format
        )


class _Service:
    service_names = ("codecascade.v1.CascadeService",)

    def __init__(self, servicer: CascadeServicer) -> None:
        self._servicer = servicer

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_CascadeServiceServicer_to_server(self._servicer, server)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class Edged:
    """A running router and what the tests need to reach and steer it."""

    stub: pb_grpc.CascadeServiceStub
    path: Path
    edge: Edge
    clock: Clock
    keys: dict[str, str]
    address: str

    @staticmethod
    def auth(key: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key}"), *extra)

    async def generate(self, key: str | None, *extra: tuple[str, str], **overrides):
        metadata = self.auth(key, *extra) if key is not None else extra
        request = pb.GenerateRequest(task=pb.Task(prompt=PROMPT), seed=1)
        for name, value in overrides.items():
            setattr(request.overrides, name, value)
        call = self.stub.Generate(request, metadata=metadata, timeout=30)
        response = await call
        return response, dict(await call.trailing_metadata() or ())

    async def usage(self, key: str, tenant_id: str = "") -> pb.GetUsageResponse:
        return await self.stub.GetUsage(
            pb.GetUsageRequest(tenant_id=tenant_id), metadata=self.auth(key), timeout=30
        )


def with_keys(tenants: Sequence[Tenant]) -> tuple[tuple[Tenant, ...], dict[str, str]]:
    keyed_tenants, keys = [], {}
    for tenant in tenants:
        made, key = keyed(tenant)
        keyed_tenants.append(made)
        keys[tenant.id] = key
    return tuple(keyed_tenants), keys


@contextlib.asynccontextmanager
async def edged_router(
    tmp_path: Path,
    tenants: Sequence[Tenant],
    *,
    organisations: tuple[Organisation, ...] = (),
    store: LedgerStore | None = None,
    cascade: Cascade | None = None,
    auth: bool = True,
    admission: Admission | None = None,
    metrics: TenantMetrics | None = None,
) -> AsyncIterator[Edged]:
    """A router whose edge reads a tenants file of `tenants` (each given one key)."""
    path = tmp_path / "tenants.yaml"
    made, keys = with_keys(tenants)
    write(path, *made, organisations=organisations)
    clock = Clock()
    edge = Edge(
        TenantDirectory(path) if auth else None,
        Ledger(store if store is not None else MemoryStore(), clock=clock),
        RateLimiter(clock),
    )
    if cascade is None:
        writer = TierSolutionWriter(scripted_registry(HeldTier()))
        cascade = Cascade(GREEDY_S, writer, writer, writer)  # type: ignore[arg-type]  # k = 0
    servicer = CascadeServicer(cascade, edge, WorstCase(PRICES), admission, metrics)
    async with running_server(
        ServiceSettings(grpc_port=0),
        _Service(servicer),
        tracer_provider=TracerProvider(),  # sampled spans: logs carry real trace ids
    ) as server:
        async with open_channel(server.address) as channel:
            stub = pb_grpc.CascadeServiceStub(channel)
            yield Edged(stub, path, edge, clock, keys, server.address)


def held_cascade(tier: HeldTier) -> Cascade:
    writer = TierSolutionWriter(scripted_registry(tier))
    return Cascade(GREEDY_S, writer, writer, writer)  # type: ignore[arg-type]  # k = 0 only


async def all_in_or_refused(tasks: Sequence[asyncio.Task[object]], tier: HeldTier) -> None:
    """Waits until every call is either inside the (held) tier or finished (refused)."""
    while sum(t.done() for t in tasks) + tier.entered < len(tasks):
        tier.changed.clear()
        waiter = asyncio.ensure_future(tier.changed.wait())
        pending = [t for t in tasks if not t.done()]
        await asyncio.wait([*pending, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
