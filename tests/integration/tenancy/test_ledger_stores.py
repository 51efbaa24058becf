"""The budget ledger against both stores (memory and Redis): the same suite, the same answers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codecascade.tenancy.errors import BudgetExhausted
from codecascade.tenancy.ledger import Account, Hold, Ledger, to_nanos
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.redis_store import RedisStore
from codecascade.tenancy.tenants import Budget, Organisation
from tests.integration.tenancy.redis_server import fresh_prefix
from tests.unit.tenancy.helpers import Clock, caller


async def _spent(ledger: Ledger, who) -> dict[str, tuple[int, int]]:
    return {b.account.scope: (b.spent, b.reserved) for b in await ledger.balances(who)}


async def test_reserve_settle_release(store) -> None:
    ledger = Ledger(store, clock=Clock())
    who = caller(usd=1.0)
    hold = await ledger.reserve(who, 0.4, hold_s=30)
    assert await _spent(ledger, who) == {"tenant_period": (0, to_nanos(0.4))}
    assert await hold.settle(0.1, tier="S", tokens=100) == to_nanos(0.1)
    assert await hold.settle(0.1, tier="S", tokens=100) == 0  # settled once only
    await hold.release()  # and then nothing is left to release
    assert await _spent(ledger, who) == {"tenant_period": (to_nanos(0.1), 0)}
    failed = await ledger.reserve(who, 0.5, hold_s=30)
    await failed.release()  # a failed tier call releases all of it
    (balance,) = await ledger.balances(who)
    assert (balance.spent, balance.reserved, balance.remaining) == (
        to_nanos(0.1),
        0,
        to_nanos(0.9),
    )
    assert dict(balance.tokens) == {"S": 100} and dict(balance.cost) == {"S": to_nanos(0.1)}


async def test_settlement_never_charges_more_than_was_reserved(store) -> None:
    ledger = Ledger(store, clock=Clock())
    who = caller(usd=1.0)
    hold = await ledger.reserve(who, 0.2, hold_s=30)
    assert await hold.settle(5.0, tier="S", tokens=1) == to_nanos(0.2)
    assert await _spent(ledger, who) == {"tenant_period": (to_nanos(0.2), 0)}


async def test_a_budget_can_be_used_to_the_last_nanodollar_and_not_past_it(store) -> None:
    ledger = Ledger(store, clock=Clock())
    who = caller(usd=0.3)
    holds = [await ledger.reserve(who, 0.1, hold_s=30) for _ in range(3)]  # exactly the budget
    with pytest.raises(BudgetExhausted) as refused:
        await ledger.reserve(who, 1e-9, hold_s=30)
    assert refused.value.remaining_usd == 0.0 and refused.value.scope == "tenant_period"
    assert "$0.300000 reserved by calls in flight" in str(refused.value)
    for hold in holds:
        await hold.settle(0.05, tier="S", tokens=1)
    await ledger.reserve(who, 0.15, hold_s=30)


async def test_budget_race_fifty_concurrent_reservations_fit_ten(store) -> None:
    ledger = Ledger(store, clock=Clock())
    who = caller(usd=1.0)

    async def one() -> bool:
        try:
            hold = await ledger.reserve(who, 0.1, hold_s=30)
        except BudgetExhausted:
            return False
        await asyncio.sleep(0)  # let the others interleave while this one is held
        await hold.settle(0.09, tier="S", tokens=90)
        return True

    served = await asyncio.gather(*(one() for _ in range(50)))
    (balance,) = await ledger.balances(who)
    assert balance.spent + balance.reserved <= to_nanos(1.0)
    assert sum(served) >= 10 and balance.spent == sum(served) * to_nanos(0.09)
    assert balance.reserved == 0


async def test_the_organisation_cap_holds_across_its_tenants(store) -> None:
    ledger = Ledger(store, clock=Clock())
    acme = Organisation(id="acme", budget=Budget(period="month", usd=1.0))
    one, two = caller("one", usd=1.0, org=acme), caller("two", usd=1.0, org=acme)
    first = await ledger.reserve(one, 0.7, hold_s=30)
    with pytest.raises(BudgetExhausted) as refused:
        await ledger.reserve(two, 0.4, hold_s=30)
    assert refused.value.scope == "organisation_period"
    assert refused.value.remaining_usd == pytest.approx(0.3)
    await first.settle(0.5, tier="M", tokens=5)
    await ledger.reserve(two, 0.5, hold_s=30)  # what the first tenant did not spend is back
    spent = await _spent(ledger, two)
    assert spent["organisation_period"] == (to_nanos(0.5), to_nanos(0.5))


async def test_the_lifetime_cap_holds_across_periods(store) -> None:
    clock = Clock()
    ledger = Ledger(store, clock=clock)
    who = caller(usd=1.0, lifetime=1.5)
    await (await ledger.reserve(who, 1.0, hold_s=30)).settle(1.0, tier="S", tokens=1)
    clock.advance(86_400)  # the next UTC day: a fresh daily budget, the same lifetime
    with pytest.raises(BudgetExhausted) as refused:
        await ledger.reserve(who, 0.6, hold_s=30)
    assert refused.value.scope == "tenant_lifetime"
    await ledger.reserve(who, 0.5, hold_s=30)


async def test_an_expired_reservation_is_charged_in_full_once(store) -> None:
    clock = Clock()
    ledger = Ledger(store, clock=clock, margin_s=0)
    who = caller(usd=1.0)
    await ledger.reserve(who, 0.3, hold_s=10)  # its router "dies": never settled
    clock.advance(11)
    await (await ledger.reserve(who, 0.1, hold_s=10)).release()  # the next step sweeps
    await (await ledger.reserve(who, 0.1, hold_s=10)).release()
    assert await _spent(ledger, who) == {"tenant_period": (to_nanos(0.3), 0)}


async def test_an_unmetered_tenant_still_records_its_spend(store) -> None:
    ledger = Ledger(store, clock=Clock())
    who = caller(usd=None)
    for _ in range(3):
        await (await ledger.reserve(who, 1000.0, hold_s=30)).settle(2.0, tier="L", tokens=7)
    (balance,) = await ledger.balances(who)
    assert balance.remaining is None and balance.spent == to_nanos(6.0)
    assert dict(balance.tokens) == {"L": 21}


# A step of an interleaving: reserve an amount, or settle (with an actual cost) / release the
# i-th reservation made so far.
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(1, 400), st.integers(0, 0)),
        st.tuples(st.just("settle"), st.integers(0, 30), st.integers(0, 500)),
        st.tuples(st.just("release"), st.integers(0, 30), st.integers(0, 0)),
    ),
    max_size=40,
)


def _check_interleavings(store_kind: str, redis_url: str, steps, concurrent: bool) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_url, prefix=fresh_prefix()) if store_kind == "redis" else None
        ledger = Ledger(store or MemoryStore(), clock=Clock())
        acme = Organisation(id="acme", budget=Budget(usd=1e-6))  # 1000 nanodollars
        who = caller(usd=7e-7, org=acme)  # 700 nanodollars
        holds: list[Hold] = []
        limits = {a.scope: a.limit for a in ledger.accounts(who)}

        async def step(kind: str, a: int, b: int) -> None:
            if kind == "reserve":
                try:
                    holds.append(await ledger.reserve(who, a * 1e-9, hold_s=30))
                except BudgetExhausted:
                    pass
            elif holds:
                hold = holds[a % len(holds)]
                if kind == "settle":
                    await hold.settle(b * 1e-9, tier="S", tokens=b)
                else:
                    await hold.release()

        try:
            if concurrent:
                await asyncio.gather(*(step(*s) for s in steps))
            else:
                for s in steps:
                    await step(*s)
                    for balance in await ledger.balances(who):
                        assert balance.spent + balance.reserved <= limits[balance.account.scope]
            balances = await ledger.balances(who)
            for balance in balances:
                assert balance.spent + balance.reserved <= limits[balance.account.scope]
                assert balance.spent >= 0 and balance.reserved >= 0
            open_amount = sum(h.amount for h in holds if not h.done)
            assert all(b.reserved == open_amount for b in balances)
        finally:
            if store is not None:
                await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
def test_property_spent_plus_reserved_never_exceeds_the_budget(
    store_kind, request, concurrent
) -> None:
    url = request.getfixturevalue("redis_server").url if store_kind == "redis" else ""

    @settings(
        max_examples=60 if store_kind == "memory" else 25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(steps=_steps)
    def run(steps) -> None:
        _check_interleavings(store_kind, url, steps, concurrent)

    run()


def test_accounts_are_named_by_scope_and_period() -> None:
    ledger = Ledger(MemoryStore(), clock=Clock())
    acme = Organisation(id="acme", budget=Budget(period="month", usd=10, lifetime_usd=100))
    accounts = ledger.accounts(caller("t1", usd=1.0, lifetime=5.0, org=acme))
    assert accounts == [
        Account("tenant:t1:day:2026-12-02", to_nanos(1.0), "tenant_period", "2026-12-02"),
        Account("tenant:t1:lifetime", to_nanos(5.0), "tenant_lifetime"),
        Account("org:acme:month:2026-12", to_nanos(10.0), "organisation_period", "2026-12"),
        Account("org:acme:lifetime", to_nanos(100.0), "organisation_lifetime"),
    ]
