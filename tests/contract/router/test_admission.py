"""Admission at the router over real gRPC: overload is RESOURCE_EXHAUSTED with a retry-after,
never UNAVAILABLE; a flooding tenant does not push a quiet one to the back; every failed request
leaves one log line with its reason, tenant and trace id."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from codecascade.mesh.context import current_identity
from codecascade.router.cascade import Cascade
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.servicer import RETRY_AFTER_KEY
from codecascade.router.solutions import TierSolutionWriter
from codecascade.tenancy.admission import Admission, AdmissionLimits
from codecascade.tenancy.tenants import Tenant
from codecascade.tierclient.errors import TierOverloaded
from tests.contract.router.edge_harness import GREEDY_S, HeldTier, edged_router, held_cascade
from tests.doubles import ScriptedTier, scripted_registry
from tests.unit.router.test_cascade import Scripted


class GatedTier(ScriptedTier):
    """A tier double whose calls each wait to be let through, and that records who came in."""

    def __init__(self) -> None:
        super().__init__(("```python\ndef f(x):\n    return x\n```",))
        self.gates: list[asyncio.Future[None]] = []
        self.tenants: list[str] = []

    async def generate(self, prompt, params, *, timeout_s=None, prompt_format=None):
        identity = current_identity()
        self.tenants.append(identity.tenant if identity else "")
        gate = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        await gate
        return await super().generate(
            prompt, params, timeout_s=timeout_s, prompt_format=prompt_format
        )


async def _until(predicate) -> None:
    """Yields to the loop (gRPC's I/O included) until `predicate()` holds; never sleeps."""
    for _ in range(100_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_a_full_router_queue_is_resource_exhausted_with_retry_after(tmp_path) -> None:
    tier = HeldTier()
    tier.go.clear()
    admission = Admission({"S": AdmissionLimits(slots=1, max_queue=0, max_wait_s=7)})
    async with edged_router(
        tmp_path, [Tenant(id="t")], cascade=held_cascade(tier), admission=admission
    ) as edged:
        first = asyncio.ensure_future(edged.generate(edged.keys["t"]))
        await _until(lambda: tier.entered == 1)
        with pytest.raises(grpc.aio.AioRpcError) as shed:
            await edged.generate(edged.keys["t"])
        assert shed.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "tier S is busy" in (shed.value.details() or "")
        trailing = dict(shed.value.trailing_metadata() or ())
        assert trailing[RETRY_AFTER_KEY] == "7"
        tier.go.set()
        response, _ = await first
        assert response.tier == "S"
        usage = (await edged.usage(edged.keys["t"])).budgets[0]
        assert usage.reserved_usd == 0  # the shed call's reservation was released


async def test_overloaded_tiers_are_back_pressure_not_unavailable(tmp_path, caplog) -> None:
    busy = TierOverloaded("tier M: RESOURCE_EXHAUSTED: queue full")
    scripted = Scripted({"S": busy, "M": busy}, {}, {})
    policy = CascadePolicy(
        tiers=(
            TierPolicy(tier="S", k=2, test_lines=2, threshold=0.9),
            TierPolicy(tier="M", k=2, test_lines=2, threshold=0.9),
        )
    )
    cascade = Cascade(policy, scripted, scripted, scripted)
    async with edged_router(tmp_path, [Tenant(id="t")], cascade=cascade) as edged:
        with caplog.at_level(logging.WARNING, logger="codecascade.router.servicer"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await edged.generate(edged.keys["t"])
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "no tier could take the request now" in (caught.value.details() or "")
    assert dict(caught.value.trailing_metadata() or ())[RETRY_AFTER_KEY] == "1"
    (line,) = [r for r in caplog.records if r.getMessage().startswith("request failed")]
    assert line.reason == "resource_exhausted" and line.tenant == "t"  # type: ignore[attr-defined]
    assert len(line.trace_id) == 32  # type: ignore[attr-defined]


async def test_a_flooding_tenant_does_not_delay_a_quiet_one_beyond_its_share(tmp_path) -> None:
    tier = GatedTier()
    writer = TierSolutionWriter(scripted_registry(tier))
    cascade = Cascade(GREEDY_S, writer, writer, writer)  # type: ignore[arg-type]
    admission = Admission({"S": AdmissionLimits(slots=1, max_queue=32, max_wait_s=60)})
    queue = admission.queue("S")
    assert queue is not None
    tenants = [Tenant(id="flood"), Tenant(id="quiet")]
    async with edged_router(tmp_path, tenants, cascade=cascade, admission=admission) as edged:
        floods = [asyncio.ensure_future(edged.generate(edged.keys["flood"])) for _ in range(8)]
        await _until(lambda: len(tier.gates) == 1 and queue.waiting == 7)
        quiet = asyncio.ensure_future(edged.generate(edged.keys["quiet"]))
        await _until(lambda: queue.waiting == 8)
        for served in range(1, 10):
            tier.gates[served - 1].set_result(None)
            await _until(lambda n=served: len(tier.gates) == min(n + 1, 9))
        await asyncio.gather(*floods, quiet)
    # The quiet tenant's one call, queued behind seven of the flood's, went next.
    assert tier.tenants[:3] == ["flood", "quiet", "flood"]


async def test_a_tier_saying_overloaded_makes_the_router_queue_instead(tmp_path) -> None:
    class BusyOnce(HeldTier):
        async def generate(self, prompt, params, *, timeout_s=None, prompt_format=None):
            if self.entered == 0:
                self.entered += 1
                raise TierOverloaded("tier S: RESOURCE_EXHAUSTED: queue full")
            return await super().generate(
                prompt, params, timeout_s=timeout_s, prompt_format=prompt_format
            )

    tier = BusyOnce()
    admission = Admission({"S": AdmissionLimits(slots=3, max_queue=8, max_wait_s=30)})
    queue = admission.queue("S")
    assert queue is not None
    async with edged_router(
        tmp_path, [Tenant(id="t")], cascade=held_cascade(tier), admission=admission
    ) as edged:
        with pytest.raises(grpc.aio.AioRpcError) as busy:
            await edged.generate(edged.keys["t"])
        assert busy.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert queue.slots == 2  # the tier's back-pressure took a slot away
        await edged.generate(edged.keys["t"])
        assert queue.slots == 3  # and serving gave it back
