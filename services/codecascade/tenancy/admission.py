"""Admission in front of each tier: a bounded queue served by weighted fair queuing.

Each tier gets `slots` calls in flight at once (what its servers can serve). Calls beyond that
wait in a bounded queue; when a slot frees, the waiter with the smallest virtual finish tag goes
next. A tenant's tag advances by 1 / weight per call, starting from the queue's virtual time
(the tag last served) or its own last tag, whichever is later (start-time fair queuing): among
tenants with work waiting, each gets slots in proportion to its weight, so one tenant's burst
cannot starve another; a tenant that was idle starts at the current virtual time and is served
at once. A full queue, or a wait longer than the bound (or than the request has left), sheds
the call with `Overloaded` and a retry-after: RESOURCE_EXHAUSTED, never UNAVAILABLE. A tier that
answers RESOURCE_EXHAUSTED itself gets fewer slots (and more as it serves again): its
back-pressure becomes waiting here.

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

__all__ = ["Admission", "AdmissionLimits", "FairQueue", "Ticket"]


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    slots: int  # calls in flight per tier
    max_queue: int  # calls waiting per tier
    max_wait_s: float  # longest a call waits for a slot


class FairQueue:
    """One tier's slots and its weighted fair queue.

    The number of slots adapts to the tier's own back-pressure: a call the tier refused as
    overloaded (its RESOURCE_EXHAUSTED) takes one slot away, down to one, so the next calls wait
    here, fairly and within their deadlines, instead of being refused by the tier; each call the
    tier served gives one back, up to the configured number.
    """

    def __init__(self, tier: str, limits: AdmissionLimits) -> None:
        self.tier = tier
        self.limits = limits
        self._limit = limits.slots
        self._in_flight = 0
        self._waiting = 0
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._finish: dict[str, float] = {}
        self._virtual = 0.0
        self._order = itertools.count()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def slots(self) -> int:
        """Slots now: the configured number, less what the tier's back-pressure took."""
        return self._limit

    def _tag(self, tenant: str, weight: float) -> float:
        tag = max(self._virtual, self._finish.get(tenant, 0.0)) + 1.0 / weight
        self._finish[tenant] = tag
        return tag

    def _retry_after(self) -> float:
        return float(max(1, math.ceil(self.limits.max_wait_s)))

    async def acquire(self, tenant: str, weight: float, *, timeout_s: float) -> None:
        """Waits for a slot (fairly); raises Overloaded when the queue is full or the wait
        would pass the bound or `timeout_s`."""
        if self._in_flight < self._limit and not self._waiting:
            self._in_flight += 1
            self._tag(tenant, weight)
            return
        if self._waiting >= self.limits.max_queue:
            raise Overloaded(
                f"tier {self.tier} is busy: {self._in_flight} calls in flight and "
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

    def _dispatch(self) -> None:
        """Hands free slots to the fairest waiters."""
        while self._heap and self._in_flight < self._limit:
            tag, _, granted = heapq.heappop(self._heap)
            if granted.done():  # gave up waiting
                continue
            self._waiting -= 1
            self._in_flight += 1
            self._virtual = tag
            granted.set_result(None)

    def release(self, *, overloaded: bool | None = None) -> None:
        """Frees a slot. `overloaded`: the tier refused the call as overloaded (one slot fewer)
        or served it (one slot back); None: nothing was learnt (the call never reached it)."""
        self._in_flight -= 1
        if overloaded is True:
            self._limit = max(1, self._limit - 1)
        elif overloaded is False:
            self._limit = min(self.limits.slots, self._limit + 1)
        self._dispatch()

    @contextlib.asynccontextmanager
    async def slot(self, tenant: str, weight: float, *, timeout_s: float) -> AsyncIterator[Ticket]:
        await self.acquire(tenant, weight, timeout_s=timeout_s)
        ticket = Ticket()
        try:
            yield ticket
        finally:
            self.release(overloaded=ticket.overloaded)


class Ticket:
    """A held slot; the holder says how the tier took the call before giving it back."""

    __slots__ = ("overloaded",)

    def __init__(self) -> None:
        self.overloaded: bool | None = None

    def report(self, *, overloaded: bool) -> None:
        self.overloaded = overloaded


class Admission:
    """A fair queue per tier; tiers with no limit set are admitted freely."""

    def __init__(self, limits: Mapping[str, AdmissionLimits]) -> None:
        self._queues = {tier: FairQueue(tier, value) for tier, value in limits.items()}

    def queue(self, tier: str) -> FairQueue | None:
        return self._queues.get(tier)
