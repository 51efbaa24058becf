"""The ledger store for several router replicas: Redis, every step one server-side Lua script.

Each of reserve, settle and release is a single `EVALSHA`, so Redis runs it atomically: no other
client's step can fall between a reservation's check and its increment, on any replica. Spend is
in Redis, so it survives router restarts (and, with Redis persistence, Redis restarts).

Keys (all under one prefix with a hash tag, so they share one slot):

    <prefix>acct:<account>   hash: spent, reserved, tokens:<tier>, cost:<tier> (nanodollars)
    <prefix>res:<id>         string: the reservation (JSON: amount, accounts)
    <prefix>expiry           sorted set: reservation id by expiry time (Unix seconds)

Redis that cannot be reached fails closed: every method raises `LedgerUnavailable` with the
address and the cause, and the edge refuses the call with UNAVAILABLE; nothing is let through
unmetered. A settlement that cannot reach Redis leaves the reservation to expire, and an expired
reservation is charged in full once (ledger.py), so an outage never charges twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from codecascade.tenancy.ledger import Account, Balance, Refusal
from codecascade.tenancy.redis_client import FailClosed, open_client

__all__ = ["DEFAULT_PREFIX", "RedisStore"]

DEFAULT_PREFIX = "codecascade:{tenancy}:"

# Shared by the scripts: finish a reservation (charge `charge`, or all of it when charge < 0),
# and charge every reservation whose expiry has passed.
_COMMON = """
local prefix = ARGV[1]
local function finish(rid, charge, tier, tokens)
  local rkey = prefix .. 'res:' .. rid
  local raw = redis.call('GET', rkey)
  if not raw then return -1 end
  local res = cjson.decode(raw)
  local amount = tonumber(res.amount)
  local charged = amount
  if charge >= 0 then charged = math.max(math.min(charge, amount), 0) end
  for _, name in ipairs(res.accounts) do
    local key = prefix .. 'acct:' .. name
    redis.call('HINCRBY', key, 'reserved', -amount)
    redis.call('HINCRBY', key, 'spent', charged)
    if tier ~= '' then
      redis.call('HINCRBY', key, 'tokens:' .. tier, tokens)
      redis.call('HINCRBY', key, 'cost:' .. tier, charged)
    end
  end
  redis.call('DEL', rkey)
  redis.call('ZREM', prefix .. 'expiry', rid)
  return charged
end
"""

# ARGV: prefix, now, id, amount, expires_at, record, n, (account, limit) x n
_RESERVE = (
    _COMMON
    + """
local now = tonumber(ARGV[2])
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', prefix .. 'expiry', '-inf', now)) do
  finish(rid, -1, '', 0)
end
local rid = ARGV[3]
local amount = tonumber(ARGV[4])
if redis.call('EXISTS', prefix .. 'res:' .. rid) == 1 then
  return redis.error_reply('reservation exists')
end
local n = tonumber(ARGV[7])
for i = 1, n do
  local name = ARGV[6 + 2 * i]
  local limit = tonumber(ARGV[7 + 2 * i])
  if limit >= 0 then
    local key = prefix .. 'acct:' .. name
    local spent = tonumber(redis.call('HGET', key, 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', key, 'reserved') or '0')
    if spent + reserved + amount > limit then
      return {name, spent, reserved}
    end
  end
end
for i = 1, n do
  redis.call('HINCRBY', prefix .. 'acct:' .. ARGV[6 + 2 * i], 'reserved', amount)
end
redis.call('SET', prefix .. 'res:' .. rid, ARGV[6])
redis.call('ZADD', prefix .. 'expiry', tonumber(ARGV[5]), rid)
return {}
"""
)

# ARGV: prefix, id, charge, tier, tokens
_SETTLE = (
    _COMMON
    + """
return finish(ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]))
"""
)


class RedisStore:
    """`LedgerStore` on Redis (redis-py asyncio); `url` like redis://127.0.0.1:6379/0."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = 2.0,
        password: str | None = None,
    ) -> None:
        self.url = url
        self._prefix = prefix
        self._client = open_client(url, password=password, timeout_s=timeout_s)
        self._call = FailClosed(
            f"the budget ledger (Redis at {url}) is unreachable, so no call can be metered "
            "and none is let through"
        )
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)

    async def ping(self) -> None:
        await self._call(cast(Awaitable[Any], self._client.ping()))

    async def reserve(
        self,
        reservation: str,
        accounts: Sequence[Account],
        amount: int,
        *,
        now: float,
        expires_at: float,
    ) -> Refusal | None:
        # Amounts travel as strings: cjson would print large numbers with 14 digits.
        record = json.dumps({"amount": str(amount), "accounts": [a.key for a in accounts]})
        args: list[str | int | float] = [
            self._prefix,
            repr(now),
            reservation,
            amount,
            repr(expires_at),
            record,
            len(accounts),
        ]
        for account in accounts:
            args += [account.key, account.limit]
        reply = await self._call(self._reserve(keys=[], args=args))
        if not reply:
            return None
        name, spent, reserved = reply
        return Refusal(str(name), int(spent), int(reserved))

    async def settle(self, reservation: str, actual: int, *, tier: str, tokens: int) -> int | None:
        reply = int(
            await self._call(
                self._settle(
                    keys=[], args=[self._prefix, reservation, max(actual, 0), tier, tokens]
                )
            )
        )
        return None if reply < 0 else reply

    async def release(self, reservation: str) -> None:
        await self._call(self._settle(keys=[], args=[self._prefix, reservation, 0, "", 0]))

    async def balances(self, accounts: Sequence[Account]) -> list[Balance]:
        found = []
        for account in accounts:
            fields: dict[str, str] = await self._call(
                cast(Awaitable[Any], self._client.hgetall(self._prefix + "acct:" + account.key))
            )
            tokens = {k[7:]: int(v) for k, v in fields.items() if k.startswith("tokens:")}
            cost = {k[5:]: int(v) for k, v in fields.items() if k.startswith("cost:")}
            found.append(
                Balance(
                    account,
                    int(fields.get("spent", 0)),
                    int(fields.get("reserved", 0)),
                    tokens,
                    cost,
                )
            )
        return found

    async def close(self) -> None:
        await self._client.aclose()
