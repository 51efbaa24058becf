"""Rate limits with an injected clock (no sleeps), in process and in Redis: the same suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from codecascade.tenancy.errors import LedgerUnavailable, RateLimited
from codecascade.tenancy.ratelimit import RateGate, RateLimiter
from codecascade.tenancy.redis_limits import RedisRateLimiter
from codecascade.tenancy.tenants import RateLimits
from tests.integration.tenancy.redis_server import fresh_prefix
from tests.unit.tenancy.helpers import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest.fixture
async def limiter(store_kind, request, clock) -> AsyncIterator[RateGate]:
    if store_kind == "memory":
        yield RateLimiter(clock)
        return
    server = request.getfixturevalue("redis_server")
    made = RedisRateLimiter(server.url, prefix=fresh_prefix(), clock=clock)
    try:
        yield made
    finally:
        await made.close()


async def _once(limiter: RateGate, tenant: str, limits: RateLimits) -> None:
    await (await limiter.admit(tenant, limits, hold_s=30)).release()


async def test_requests_per_minute_refill_with_the_clock(limiter, clock) -> None:
    limits = RateLimits(requests_per_min=3)
    for _ in range(3):
        await _once(limiter, "a", limits)
    with pytest.raises(RateLimited) as refused:
        await limiter.admit("a", limits, hold_s=30)
    assert refused.value.retry_after_s == 20.0  # one request per 20 s
    await _once(limiter, "b", limits)  # another tenant has its own bucket
    clock.advance(19.0)
    with pytest.raises(RateLimited) as again:
        await limiter.admit("a", limits, hold_s=30)
    assert again.value.retry_after_s == 1.0
    clock.advance(1.0)
    await _once(limiter, "a", limits)


async def test_generated_tokens_per_minute_refuse_until_the_debt_is_repaid(limiter, clock) -> None:
    limits = RateLimits(tokens_per_min=600)
    slot = await limiter.admit("a", limits, hold_s=30)
    await slot.record_tokens(900)  # known only after the call: the bucket goes 300 below zero
    await slot.release()
    with pytest.raises(RateLimited, match="tokens per minute") as refused:
        await limiter.admit("a", limits, hold_s=30)
    assert refused.value.retry_after_s == 30.0  # 300 tokens at 10 per second
    clock.advance(30.0)
    await _once(limiter, "a", limits)


async def test_concurrency_cap_and_release_once(limiter) -> None:
    limits = RateLimits(concurrent_requests=2)
    first = await limiter.admit("a", limits, hold_s=30)
    second = await limiter.admit("a", limits, hold_s=30)
    with pytest.raises(RateLimited, match="2 requests in flight") as refused:
        await limiter.admit("a", limits, hold_s=30)
    assert refused.value.retry_after_s == 1.0
    await first.release()
    await first.release()  # a second release frees nothing more
    third = await limiter.admit("a", limits, hold_s=30)
    with pytest.raises(RateLimited):
        await limiter.admit("a", limits, hold_s=30)
    await second.release()
    await third.release()


async def test_unlimited_by_default_and_changed_limits_take_effect(limiter) -> None:
    for _ in range(50):
        await _once(limiter, "a", RateLimits())
    await _once(limiter, "a", RateLimits(requests_per_min=1))
    with pytest.raises(RateLimited):
        await limiter.admit("a", RateLimits(requests_per_min=1), hold_s=30)


async def test_shared_limits_hold_across_replicas_and_leases_expire(redis_server, clock) -> None:
    prefix = fresh_prefix()
    replicas = [RedisRateLimiter(redis_server.url, prefix=prefix, clock=clock) for _ in range(2)]
    limits = RateLimits(requests_per_min=4, concurrent_requests=2)
    try:
        held = [await replicas[i % 2].admit("t", limits, hold_s=10) for i in range(2)]
        with pytest.raises(RateLimited, match="in flight"):  # the cap counts both replicas
            await replicas[1].admit("t", limits, hold_s=10)
        assert held
        clock.advance(10 + 60 + 1)  # the routers "died": their leases expire
        await _once(replicas[0], "t", limits)
        await _once(replicas[1], "t", limits)
        clock.advance(1)
        # Four requests in ~71 s at four a minute: the bucket refilled in between; two more
        # fill it again and the next one, on either replica, must wait.
        await _once(replicas[0], "t", limits)
        await _once(replicas[1], "t", limits)
        with pytest.raises(RateLimited, match="requests per minute"):
            await replicas[0].admit("t", limits, hold_s=10)
    finally:
        for replica in replicas:
            await replica.close()


async def test_unreachable_redis_fails_closed(outage_redis, clock) -> None:
    limiter = RedisRateLimiter(outage_redis.url, prefix=fresh_prefix(), clock=clock, timeout_s=1)
    try:
        await _once(limiter, "t", RateLimits(requests_per_min=10))
        outage_redis.stop()
        with pytest.raises(LedgerUnavailable, match=r"rate limits .* unreachable"):
            await limiter.admit("t", RateLimits(requests_per_min=10), hold_s=10)
    finally:
        await limiter.close()
