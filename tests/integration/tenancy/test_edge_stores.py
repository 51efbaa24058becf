"""The router's edge over real gRPC on both ledger stores, and a Redis outage.

The race: 50 concurrent requests against a budget that holds 10 worst cases. Every request that
reserved waits inside the (double) tier until all 50 have either reserved or been refused, so
the reservations really are concurrent. The outage: Redis is stopped (by PID) and started again
on the same port with its data; the edge fails closed while it is down and nothing is charged
twice once it is back.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from codecascade.core.usage import Usage
from codecascade.router.metering import TenantMeter, WorstCase
from codecascade.router.policy import TierPolicy
from codecascade.tenancy.errors import LedgerUnavailable
from codecascade.tenancy.ledger import Ledger, to_nanos
from codecascade.tenancy.redis_store import RedisStore
from codecascade.tenancy.tenants import Budget, Organisation, Tenant
from tests.contract.router.edge_harness import (
    HeldTier,
    all_in_or_refused,
    edged_router,
    held_cascade,
)
from tests.integration.tenancy.redis_server import fresh_prefix
from tests.unit.tenancy.helpers import Clock, caller


async def test_budget_race_on_either_store(tmp_path, store) -> None:
    tier = HeldTier()
    tier.go.clear()
    acme = Organisation(id="acme", budget=Budget(usd=100.0))
    tenants = [Tenant(id="t", organisation="acme", budget=Budget(period="day", usd=1.0))]
    async with edged_router(
        tmp_path, tenants, organisations=(acme,), store=store, cascade=held_cascade(tier)
    ) as edged:
        tasks = [asyncio.ensure_future(edged.generate(edged.keys["t"])) for _ in range(50)]
        await all_in_or_refused(tasks, tier)
        assert tier.entered == 10
        tier.go.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(refused) == 40
        assert {e.code() for e in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        for budget in (await edged.usage(edged.keys["t"])).budgets:
            assert budget.spent_usd == pytest.approx(0.2) and budget.reserved_usd == 0
            assert budget.spent_usd + budget.reserved_usd <= budget.limit_usd


async def test_redis_down_is_unavailable_and_nothing_is_charged_twice(
    tmp_path, outage_redis
) -> None:
    store = RedisStore(outage_redis.url, prefix=fresh_prefix(), timeout_s=1.0)
    tenants = [Tenant(id="t", budget=Budget(usd=1.0))]
    try:
        async with edged_router(tmp_path, tenants, store=store) as edged:
            key = edged.keys["t"]
            await edged.generate(key)
            outage_redis.stop()
            with pytest.raises(grpc.aio.AioRpcError) as down:
                await edged.generate(key)
            assert down.value.code() is grpc.StatusCode.UNAVAILABLE
            details = down.value.details() or ""
            assert "budget ledger (Redis at redis://127.0.0.1:" in details
            assert "none is let through" in details
            outage_redis.start()
            await edged.generate(key)
            (budget,) = (await edged.usage(key)).budgets
            assert budget.spent_usd == pytest.approx(2 * 0.02) and budget.reserved_usd == 0
            assert budget.tiers[0].completion_tokens == 2 * 20
    finally:
        await store.close()


async def test_a_settlement_lost_to_an_outage_is_charged_once_when_it_expires(
    outage_redis, caplog
) -> None:
    store = RedisStore(outage_redis.url, prefix=fresh_prefix(), timeout_s=1.0)
    clock = Clock()
    ledger = Ledger(store, clock=clock, margin_s=0)
    who = caller(usd=1.0)
    tier = TierPolicy(tier="S", k=0, max_tokens=100)
    meter = TenantMeter(ledger, who, WorstCase({"S": 1.0}))
    try:
        held = await meter.reserve(tier, hold_s=30)  # $0.10 held
        outage_redis.stop()
        with caplog.at_level(logging.ERROR):
            await held.settle("S", Usage(10, 20, 0.02))  # cannot reach Redis: deferred, no raise
        assert "settlement deferred to the reservation's expiry" in caplog.text
        with pytest.raises(LedgerUnavailable):
            await meter.reserve(tier, hold_s=30)
        outage_redis.start()
        (balance,) = await ledger.balances(who)
        assert (balance.spent, balance.reserved) == (0, to_nanos(0.1))  # still held
        clock.advance(31)
        for _ in range(2):  # each reservation sweeps; the expired one is charged only once
            await (await meter.reserve(tier, hold_s=30)).release()
        (balance,) = await ledger.balances(who)
        assert (balance.spent, balance.reserved) == (to_nanos(0.1), 0)
    finally:
        await store.close()
