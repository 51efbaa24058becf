"""Rate limits with an injected clock: no sleeps."""

from __future__ import annotations

import pytest

from codecascade.tenancy.errors import RateLimited
from codecascade.tenancy.ratelimit import RateLimiter
from codecascade.tenancy.tenants import RateLimits
from tests.unit.tenancy.helpers import Clock


def test_requests_per_minute_refills_with_the_clock() -> None:
    clock = Clock(0.0)
    limiter = RateLimiter(clock)
    limits = RateLimits(requests_per_min=3)
    for _ in range(3):
        limiter.admit("a", limits).release()
    with pytest.raises(RateLimited) as refused:
        limiter.admit("a", limits)
    assert refused.value.retry_after_s == 20.0  # one request per 20 s
    limiter.admit("b", limits).release()  # another tenant has its own bucket
    clock.advance(19.0)
    with pytest.raises(RateLimited) as again:
        limiter.admit("a", limits)
    assert again.value.retry_after_s == 1.0
    clock.advance(1.0)
    limiter.admit("a", limits).release()


def test_generated_tokens_per_minute_refuse_until_the_debt_is_repaid() -> None:
    clock = Clock(0.0)
    limiter = RateLimiter(clock)
    limits = RateLimits(tokens_per_min=600)
    slot = limiter.admit("a", limits)
    slot.record_tokens(900)  # known only after the call: the bucket goes 300 below zero
    slot.release()
    with pytest.raises(RateLimited, match="tokens per minute") as refused:
        limiter.admit("a", limits)
    assert refused.value.retry_after_s == 30.0  # 300 tokens at 10 per second
    clock.advance(30.0)
    limiter.admit("a", limits).release()


def test_concurrency_cap_and_release_once() -> None:
    limiter = RateLimiter(Clock(0.0))
    limits = RateLimits(concurrent_requests=2)
    first, second = limiter.admit("a", limits), limiter.admit("a", limits)
    with pytest.raises(RateLimited, match="2 requests in flight") as refused:
        limiter.admit("a", limits)
    assert refused.value.retry_after_s >= 1
    first.release()
    first.release()  # a second release frees nothing more
    third = limiter.admit("a", limits)
    with pytest.raises(RateLimited):
        limiter.admit("a", limits)
    second.release()
    third.release()


def test_unlimited_by_default_and_changed_limits_take_effect() -> None:
    limiter = RateLimiter(Clock(0.0))
    for _ in range(100):
        limiter.admit("a", RateLimits()).release()
    limiter.admit("a", RateLimits(requests_per_min=1)).release()
    with pytest.raises(RateLimited):
        limiter.admit("a", RateLimits(requests_per_min=1))
