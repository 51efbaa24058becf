"""The one way the tenancy stores reach Redis: a client with bounded timeouts, and calls that fail
closed.

The ledger and the rate limits both guard spend. When Redis cannot answer, neither may guess:
every failed call becomes `LedgerUnavailable` (UNAVAILABLE at the edge) with a message saying
which guard is down and that nothing was let through, never an open door.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from codecascade.tenancy.errors import LedgerUnavailable

__all__ = ["FailClosed", "open_client"]


def open_client(url: str, *, password: str | None, timeout_s: float) -> redis.Redis:
    """A client whose every socket operation gives up after `timeout_s`."""
    return redis.Redis.from_url(
        url,
        password=password,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        decode_responses=True,
    )


class FailClosed:
    """Awaits Redis calls for one guard; an unreachable Redis refuses instead of allowing."""

    def __init__(self, refusal: str) -> None:
        # What the caller reads, e.g. "the budget ledger (Redis at URL) is unreachable, so no
        # call can be metered and none is let through"; the cause is appended.
        self._refusal = refusal

    async def __call__(self, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        except (RedisError, OSError) as exc:
            raise LedgerUnavailable(f"{self._refusal}: {exc.__class__.__name__}: {exc}") from exc
