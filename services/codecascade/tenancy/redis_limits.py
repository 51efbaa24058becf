"""Rate limits shared by every router replica: the token buckets and in-flight leases in Redis.

The same limits as `ratelimit.RateLimiter`, each step one server-side Lua script so replicas
cannot race: admitting a request checks the concurrency cap, the token bucket's debt and the
request bucket, and takes a request token and an in-flight lease in one step. A lease expires
with the request's deadline (plus a margin), so a router that dies does not hold its tenant's
slots. Keys (under the ledger's prefix, one hash tag):

    <prefix>rate:<tenant>:requests   hash: level, at      (expires when idle: full again)
    <prefix>rate:<tenant>:tokens     hash: level, at
    <prefix>rate:<tenant>:inflight   sorted set: request id by lease expiry

Redis that cannot be reached fails closed (`LedgerUnavailable`), as the ledger does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from codecascade.tenancy.ratelimit import Slot, refusal
from codecascade.tenancy.redis_client import FailClosed, open_client
from codecascade.tenancy.redis_store import DEFAULT_PREFIX
from codecascade.tenancy.tenants import RateLimits

__all__ = ["RedisRateLimiter"]

# A bucket untouched for 180 s is full again, so its key may go.
_LEVEL = """
local function level(key, per_min, now)
  local v = redis.call('HMGET', key, 'level', 'at')
  local lvl, at = tonumber(v[1]), tonumber(v[2])
  if lvl == nil then return per_min end
  lvl = lvl + (now - at) * per_min / 60
  if lvl > per_min then lvl = per_min end
  return lvl
end
local function store(key, lvl, now)
  redis.call('HSET', key, 'level', tostring(lvl), 'at', tostring(now))
  redis.call('EXPIRE', key, 180)
end
"""

# ARGV: base, now, requests/min, tokens/min, cap (0: none), request id, lease expiry
_ADMIT = (
    _LEVEL
    + """
local base, now = ARGV[1], tonumber(ARGV[2])
local rpm, tpm, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', base .. 'inflight', '-inf', now)
  local n = redis.call('ZCARD', base .. 'inflight')
  if n >= cap then return {'concurrency', tostring(n)} end
end
if tpm > 0 then
  local t = level(base .. 'tokens', tpm, now)
  if t < 0 then return {'tokens', tostring(-t * 60 / tpm)} end
end
if rpm > 0 then
  local r = level(base .. 'requests', rpm, now)
  if r < 1 then return {'requests', tostring((1 - r) * 60 / rpm)} end
  store(base .. 'requests', r - 1, now)
end
if cap > 0 then
  local expiry = tonumber(ARGV[7])
  redis.call('ZADD', base .. 'inflight', expiry, ARGV[6])
  redis.call('EXPIRE', base .. 'inflight', math.ceil(expiry - now) + 60)
end
return {}
"""
)

# ARGV: base, now, tokens/min, tokens
_TOKENS = (
    _LEVEL
    + """
local base, now, tpm = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
store(base .. 'tokens', level(base .. 'tokens', tpm, now) - tonumber(ARGV[4]), now)
return 1
"""
)


class _RedisSlot:
    def __init__(self, limiter: RedisRateLimiter, base: str, limits: RateLimits, rid: str) -> None:
        self._limiter = limiter
        self._base = base
        self._limits = limits
        self._rid = rid
        self._open = True

    async def record_tokens(self, tokens: int) -> None:
        if self._limits.tokens_per_min:
            await self._limiter._record(self._base, self._limits.tokens_per_min, tokens)

    async def release(self) -> None:
        if self._open:
            self._open = False
            if self._limits.concurrent_requests:
                await self._limiter._release(self._base, self._rid)


class RedisRateLimiter:
    """`RateGate` on Redis (redis-py asyncio), for several router replicas."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = 2.0,
        password: str | None = None,
        clock: Callable[[], float] = time.time,
        margin_s: float = 60.0,
    ) -> None:
        self.url = url
        self._prefix = prefix
        self._clock = clock
        self._margin_s = margin_s
        self._client = open_client(url, password=password, timeout_s=timeout_s)
        self._call = FailClosed(
            f"the rate limits (Redis at {url}) are unreachable, so no call can be admitted "
            "and none is let through"
        )
        self._admit = self._client.register_script(_ADMIT)
        self._tokens = self._client.register_script(_TOKENS)

    async def admit(self, tenant: str, limits: RateLimits, *, hold_s: float = 600.0) -> Slot:
        base = f"{self._prefix}rate:{tenant}:"
        rid = uuid.uuid4().hex
        now = self._clock()
        reply = await self._call(
            self._admit(
                keys=[],
                args=[
                    base,
                    repr(now),
                    limits.requests_per_min or 0,
                    limits.tokens_per_min or 0,
                    limits.concurrent_requests or 0,
                    rid,
                    repr(now + hold_s + self._margin_s),
                ],
            )
        )
        if reply:
            which, detail = reply
            raise refusal(tenant, limits, str(which), float(detail))
        return _RedisSlot(self, base, limits, rid)

    async def _record(self, base: str, tokens_per_min: float, tokens: int) -> None:
        await self._call(
            self._tokens(keys=[], args=[base, repr(self._clock()), tokens_per_min, tokens])
        )

    async def _release(self, base: str, rid: str) -> None:
        await self._call(self._client.zrem(base + "inflight", rid))

    async def close(self) -> None:
        await self._client.aclose()
