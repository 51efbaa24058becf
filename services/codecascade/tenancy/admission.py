"""Admission in front of each tier: a bounded queue served by weighted fair queuing.

Each tier gets `slots` calls in flight at once (what its servers can serve). Calls beyond that
wait in a bounded queue; when a slot frees, the waiter with the smallest virtual finish tag goes
next. A tenant's tag advances by 1 / weight per call, starting from the queue's virtual time
(the tag last served) or its own last tag, whichever is later (start-time fair queuing): among
tenants with work waiting, each gets slots in proportion to its weight, so one tenant's burst
cannot starve another; a tenant that was idle starts at the current virtual time and is served
at once. A full queue, or a wait longer than the bound (or than the request has left), sheds
the call with `Overloaded` and a retry-after: RESOURCE_EXHAUSTED, never UNAVAILABLE.

Grants and waits are futures, not polling, so tests drive the queue by releasing slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from codecascade.tenancy.errors import Overloaded

__all__ = ["Admission", "AdmissionLimits", "FairQueue"]


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    slots: int  # calls in flight per tier
    max_queue: int  # calls waiting per tier
    max_wait_s: float  # longest a call waits for a slot


class FairQueue:
    """One tier's slots and its weighted fair queue."""

    def __init__(self, tier: str, limits: AdmissionLimits) -> None:
        self.tier = tier
        self.limits = limits
        self._free = limits.slots
        self._waiting = 0
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._finish: dict[str, float] = {}
        self._virtual = 0.0
        self._order = itertools.count()

    @property
    def in_flight(self) -> int:
        return self.limits.slots - self._free

    @property
    def waiting(self) -> int:
        return self._waiting

    def _tag(self, tenant: str, weight: float) -> float:
        tag = max(self._virtual, self._finish.get(tenant, 0.0)) + 1.0 / weight
        self._finish[tenant] = tag
        return tag

    def _retry_after(self) -> float:
        return float(max(1, math.ceil(self.limits.max_wait_s)))

    async def acquire(self, tenant: str, weight: float, *, timeout_s: float) -> None:
        """Waits for a slot (fairly); raises Overloaded when the queue is full or the wait
        would pass the bound or `timeout_s`."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            self._tag(tenant, weight)
            return
        if self._waiting >= self.limits.max_queue:
            raise Overloaded(
                f"tier {self.tier} is busy: {self.in_flight} calls in flight and "
                f"{self._waiting} waiting (the most this router queues); retry in "
                f"{self._retry_after():.0f} s",
                retry_after_s=self._retry_after(),
            )
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self._tag(tenant, weight), next(self._order), granted))
        self._waiting += 1
        bound = min(self.limits.max_wait_s, timeout_s)
        try:
            async with asyncio.timeout(bound):
                await asyncio.shield(granted)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if granted.done() and not granted.cancelled():
                self.release()  # the slot came as the wait ended: pass it on
            else:
                granted.cancel()
                self._waiting -= 1
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise Overloaded(
                f"tier {self.tier} is busy: no slot within {bound:.1f} s; retry in "
                f"{self._retry_after():.0f} s",
                retry_after_s=self._retry_after(),
            ) from None

    def release(self) -> None:
        """Frees a slot: the fairest waiter gets it, else it is free."""
        while self._heap:
            tag, _, granted = heapq.heappop(self._heap)
            if granted.done():  # gave up waiting
                continue
            self._waiting -= 1
            self._virtual = tag
            granted.set_result(None)
            return
        self._free += 1

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str, weight: float, *, timeout_s: float) -> AsyncIterator[None]:
        await self.acquire(tenant, weight, timeout_s=timeout_s)
        try:
            yield
        finally:
            self.release()


class Admission:
    """A fair queue per tier; tiers with no limit set are admitted freely."""

    def __init__(self, limits: Mapping[str, AdmissionLimits]) -> None:
        self._queues = {tier: FairQueue(tier, value) for tier, value in limits.items()}

    def queue(self, tier: str) -> FairQueue | None:
        return self._queues.get(tier)
