"""The autoscaler's router series: arrivals per tier and the in-flight gauge, from events."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from codecascade.core.task import make_problem
from codecascade.core.usage import Usage
from codecascade.router.cascade import Cascade
from codecascade.router.metrics import RouterMetrics
from codecascade.router.policy import CascadePolicy, RequestOverrides, TierPolicy
from codecascade.router.ports import AssertSet, Candidates, Execution

PROBLEM = make_problem("def f(x):\n    '''Identity.'''\n")
S = TierPolicy(tier="S", k=1, test_lines=1, threshold=0.9)
M = TierPolicy(tier="M", k=2, test_lines=1, threshold=0.9)


class Ports:
    """S writes a wrong answer (escalates); M blocks until released, or fails."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.in_m = asyncio.Event()

    async def write_solutions(self, tier, problem, *, seed, timeout_s):
        if tier.tier == "M":
            self.in_m.set()
            await self.release.wait()
        return Candidates((f"# {tier.tier}\nx",) * tier.k, Usage(1, 1, 0.0), 0.1)

    async def write_tests(self, tier, problem, *, seed, timeout_s):
        return AssertSet(("assert f(1) == 1",), Usage(1, 1, 0.0), 0.1)

    async def run_matrix(self, problem, solutions, tests, *, timeout_s):
        passed = solutions[0].startswith("# M")
        return Execution(tuple((passed,) for _ in solutions), 0.1)


def _value(registry: CollectorRegistry, name: str, tier: str) -> float:
    return registry.get_sample_value(name, {"tier": tier}) or 0.0


async def test_in_flight_rises_while_a_tier_works_and_falls_when_it_ends() -> None:
    registry = CollectorRegistry()
    ports = Ports()
    cascade = Cascade(
        CascadePolicy(tiers=(S, M)),
        ports,
        ports,
        ports,
        observers=(RouterMetrics.create(registry).observe,),
    )
    run = asyncio.create_task(cascade.run(PROBLEM, RequestOverrides(), seed=1, deadline_s=30))
    await asyncio.wait_for(ports.in_m.wait(), 5)
    assert _value(registry, "codecascade_tier_in_flight", "M") == 1
    assert _value(registry, "codecascade_tier_in_flight", "S") == 0
    assert _value(registry, "codecascade_tier_arrivals_total", "S") == 1
    assert _value(registry, "codecascade_tier_arrivals_total", "M") == 1
    ports.release.set()
    assert (await run).tier == "M"
    assert _value(registry, "codecascade_tier_in_flight", "M") == 0


async def test_a_cancelled_request_leaves_no_phantom_in_flight() -> None:
    registry = CollectorRegistry()
    ports = Ports()
    cascade = Cascade(
        CascadePolicy(tiers=(S, M)),
        ports,
        ports,
        ports,
        observers=(RouterMetrics.create(registry).observe,),
    )
    run = asyncio.create_task(cascade.run(PROBLEM, RequestOverrides(), seed=1, deadline_s=30))
    await asyncio.wait_for(ports.in_m.wait(), 5)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert _value(registry, "codecascade_tier_in_flight", "M") == 0
