"""The fair queue in front of a tier: weighted shares, a bounded queue, shedding with a retry.

Slots are released by hand, so the order of grants is the measure of fairness: no clocks, no
sleeps (the wait bound is exercised with a zero-length bound).
"""

from __future__ import annotations

import asyncio

import pytest

from codecascade.tenancy.admission import Admission, AdmissionLimits, FairQueue
from codecascade.tenancy.errors import Overloaded


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)  # let granted waiters run (a yield, not a wait)


async def _grants(queue: FairQueue, arrivals: list[tuple[str, float]]) -> list[str]:
    """Queues `arrivals` behind one busy slot, then frees one slot at a time: who went when."""
    await queue.acquire("holder", 1.0, timeout_s=60)
    order: list[str] = []

    async def wait(tenant: str, weight: float) -> None:
        await queue.acquire(tenant, weight, timeout_s=60)
        order.append(tenant)

    tasks = []
    for tenant, weight in arrivals:
        tasks.append(asyncio.ensure_future(wait(tenant, weight)))
        await _settle()  # arrive in this order
    assert queue.waiting == len(arrivals)
    for _ in arrivals:
        queue.release()
        await _settle()
    await asyncio.gather(*tasks)
    return order


async def test_a_flooding_tenant_does_not_starve_another() -> None:
    queue = FairQueue("M", AdmissionLimits(slots=1, max_queue=100, max_wait_s=60))
    order = await _grants(queue, [("flood", 1.0)] * 20 + [("quiet", 1.0)] * 2)
    # The quiet tenant arrived last, behind 20 queued calls, and is served within two grants.
    assert order.index("quiet") <= 1
    assert order[:4].count("quiet") == 2


async def test_weights_set_the_shares() -> None:
    queue = FairQueue("M", AdmissionLimits(slots=1, max_queue=100, max_wait_s=60))
    order = await _grants(queue, [("a", 1.0)] * 12 + [("b", 2.0)] * 12)
    first = order[:12]
    # While both have work waiting, b (weight 2) gets about two slots for each of a's.
    assert 7 <= first.count("b") <= 9


async def test_a_full_queue_sheds_with_a_retry_after() -> None:
    queue = FairQueue("M", AdmissionLimits(slots=1, max_queue=1, max_wait_s=5))
    await queue.acquire("a", 1.0, timeout_s=60)
    waiter = asyncio.ensure_future(queue.acquire("b", 1.0, timeout_s=60))
    await _settle()
    with pytest.raises(Overloaded, match="1 calls in flight and 1 waiting") as shed:
        await queue.acquire("c", 1.0, timeout_s=60)
    assert shed.value.retry_after_s == 5.0
    queue.release()
    await waiter  # b got the slot the moment it was freed
    assert (queue.in_flight, queue.waiting) == (1, 0)


async def test_a_wait_past_the_bound_sheds_and_leaves_no_trace() -> None:
    queue = FairQueue("M", AdmissionLimits(slots=1, max_queue=4, max_wait_s=30))
    await queue.acquire("a", 1.0, timeout_s=60)
    with pytest.raises(Overloaded, match=r"no slot within 0\.0 s"):
        await queue.acquire("b", 1.0, timeout_s=0.0)  # the request had no time left to wait
    assert queue.waiting == 0
    queue.release()
    assert queue.in_flight == 0  # the slot was not handed to the waiter that left
    async with queue.slot("c", 1.0, timeout_s=60):
        assert queue.in_flight == 1
    assert queue.in_flight == 0


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    queue = FairQueue("M", AdmissionLimits(slots=1, max_queue=4, max_wait_s=30))
    await queue.acquire("a", 1.0, timeout_s=60)
    gone = asyncio.ensure_future(queue.acquire("b", 1.0, timeout_s=60))
    stays = asyncio.ensure_future(queue.acquire("c", 1.0, timeout_s=60))
    await _settle()
    gone.cancel()
    await _settle()
    queue.release()
    await stays
    assert gone.cancelled() and (queue.in_flight, queue.waiting) == (1, 0)


def test_tiers_without_limits_are_admitted_freely() -> None:
    admission = Admission({"M": AdmissionLimits(2, 4, 1.0)})
    assert admission.queue("S") is None and admission.queue("M") is not None


async def test_the_tiers_back_pressure_takes_slots_away_and_service_gives_them_back() -> None:
    queue = FairQueue("M", AdmissionLimits(slots=2, max_queue=4, max_wait_s=30))
    await queue.acquire("a", 1.0, timeout_s=60)
    await queue.acquire("b", 1.0, timeout_s=60)
    queue.release(overloaded=True)  # the tier said RESOURCE_EXHAUSTED
    assert (queue.slots, queue.in_flight) == (1, 1)
    waiter = asyncio.ensure_future(queue.acquire("c", 1.0, timeout_s=60))
    await _settle()
    assert queue.waiting == 1  # waits here instead of being refused by the tier
    queue.release(overloaded=True)
    assert queue.slots == 1  # never below one
    await waiter
    queue.release(overloaded=False)  # served: one slot back
    assert (queue.slots, queue.in_flight) == (2, 0)
    queue_full = FairQueue("M", AdmissionLimits(slots=2, max_queue=4, max_wait_s=30))
    async with queue_full.slot("a", 1.0, timeout_s=60) as ticket:
        ticket.report(overloaded=True)
    assert queue_full.slots == 1
    async with queue_full.slot("a", 1.0, timeout_s=60):
        pass  # nothing reported: nothing learnt
    assert queue_full.slots == 1
