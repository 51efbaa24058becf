"""Rate limits per tenant: token buckets for requests and generated tokens, a concurrency cap.

A request takes one token from the request bucket and a slot of the concurrency cap when it is
admitted. Generated tokens are only known afterwards: they are taken from the token bucket when
the call settles, which may drive it below zero, and no request is admitted while it is below
zero (it refills at the configured rate). Buckets hold a minute's worth. Every refusal says when
to retry. The clock is injected; tests move it instead of sleeping.

Two implementations of `RateGate`: `RateLimiter` keeps the buckets in this process (limits hold
per router replica), `RedisRateLimiter` (redis_limits.py) keeps them in Redis, shared by every
replica, with in-flight requests as leases that expire if a router dies.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from codecascade.tenancy.errors import RateLimited
from codecascade.tenancy.tenants import RateLimits

__all__ = ["RateGate", "RateLimiter", "Slot", "TokenBucket", "refusal"]


class Slot(Protocol):
    """An admitted request: record its generated tokens, then release it (once)."""

    async def record_tokens(self, tokens: int) -> None: ...

    async def release(self) -> None: ...


class RateGate(Protocol):
    async def admit(self, tenant: str, limits: RateLimits, *, hold_s: float) -> Slot:
        """Admits one request (held at most `hold_s`) or raises RateLimited with a retry-after."""
        ...


def _retry(seconds: float) -> float:
    return float(max(1, math.ceil(seconds)))


def refusal(tenant: str, limits: RateLimits, which: str, detail: float) -> RateLimited:
    """The error for a refused request: `which` limit, with a count or the seconds to wait."""
    if which == "concurrency":
        return RateLimited(
            f"tenant {tenant} has {detail:.0f} requests in flight, its limit is "
            f"{limits.concurrent_requests}: retry when one finishes",
            retry_after_s=1.0,
        )
    what = (
        f"generated more than {limits.tokens_per_min:g} tokens per minute"
        if which == "tokens"
        else f"sent more than {limits.requests_per_min:g} requests per minute"
    )
    return RateLimited(
        f"tenant {tenant} {what}: retry in {_retry(detail):.0f} s", retry_after_s=_retry(detail)
    )


class TokenBucket:
    """`rate_per_min` tokens per minute, holding at most `capacity` (a minute's worth)."""

    def __init__(self, rate_per_min: float, clock: Callable[[], float]) -> None:
        self.rate_per_s = rate_per_min / 60.0
        self.capacity = rate_per_min
        self._clock = clock
        self._level = self.capacity
        self._at = clock()

    @property
    def level(self) -> float:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._at) * self.rate_per_s)
        self._at = now
        return self._level

    def wait_s(self, amount: float) -> float:
        """Seconds until `amount` tokens are there (0: now)."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing / self.rate_per_s

    def take(self, amount: float) -> None:
        """Takes `amount` (the level may go below zero: a debt repaid by refilling)."""
        self._level = self.level - amount


@dataclass(slots=True)
class _TenantState:
    limits: RateLimits
    requests: TokenBucket | None
    tokens: TokenBucket | None
    in_flight: int = 0


class _LocalSlot:
    def __init__(self, limiter: RateLimiter, tenant: str) -> None:
        self._limiter = limiter
        self._tenant = tenant
        self._open = True

    async def record_tokens(self, tokens: int) -> None:
        self._limiter._record_tokens(self._tenant, tokens)

    async def release(self) -> None:
        if self._open:
            self._open = False
            self._limiter._release(self._tenant)


class RateLimiter:
    """The limits of every tenant, in this process; limits follow the tenants file as it
    changes (a changed limit starts its buckets full)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tenants: dict[str, _TenantState] = {}

    def _state(self, tenant: str, limits: RateLimits) -> _TenantState:
        state = self._tenants.get(tenant)
        if state is None or state.limits != limits:  # new tenant, or its limits changed
            in_flight = state.in_flight if state is not None else 0
            state = _TenantState(
                limits,
                TokenBucket(limits.requests_per_min, self._clock)
                if limits.requests_per_min
                else None,
                TokenBucket(limits.tokens_per_min, self._clock) if limits.tokens_per_min else None,
                in_flight,
            )
            self._tenants[tenant] = state
        return state

    async def admit(self, tenant: str, limits: RateLimits, *, hold_s: float = 0.0) -> Slot:
        state = self._state(tenant, limits)
        if limits.concurrent_requests is not None and state.in_flight >= limits.concurrent_requests:
            raise refusal(tenant, limits, "concurrency", state.in_flight)
        if state.tokens is not None and state.tokens.level < 0:
            raise refusal(tenant, limits, "tokens", state.tokens.wait_s(0.0))
        if state.requests is not None:
            wait = state.requests.wait_s(1.0)
            if wait > 0:
                raise refusal(tenant, limits, "requests", wait)
            state.requests.take(1.0)
        state.in_flight += 1
        return _LocalSlot(self, tenant)

    def _record_tokens(self, tenant: str, tokens: int) -> None:
        state = self._tenants.get(tenant)
        if state is not None and state.tokens is not None:
            state.tokens.take(tokens)

    def _release(self, tenant: str) -> None:
        state = self._tenants.get(tenant)
        if state is not None:
            state.in_flight = max(state.in_flight - 1, 0)
