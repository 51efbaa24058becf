"""Budgets that cannot be overspent: reserve the worst case first, settle the actual after.

Every call a tenant makes draws on a few *accounts*: the tenant's budget for the current UTC
period, its lifetime cap, and its organisation's period and lifetime caps (an account exists for
each budget the tenants file sets; a tenant without a budget still gets an unlimited period
account, so its spend is recorded). Before a tier call the edge reserves the call's worst-case
cost on all of them at once, in one atomic step of the store: it succeeds only if, on every
account, `spent + reserved + amount <= limit` (`<=`: a budget may be used to the last nanodollar,
never past it). After the call the reservation is settled: the actual cost (never more than was
reserved) moves to `spent`, the rest is released. A call that failed releases everything.

So at every moment, on every account, `spent + reserved <= limit`, whatever the concurrency:
the check and the increment are one step. A reservation whose router died is not lost either: it
carries an expiry, and the next reservation on the store charges an expired one in full (the
router may have spent its worst case before it died; charging less could overspend).

Amounts are integer nanodollars (1e-9 $), so sums are exact in both stores (Redis Lua numbers are
doubles, exact for integers below 2**53, i.e. nine million dollars).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from codecascade.tenancy.errors import BudgetExhausted
from codecascade.tenancy.tenants import Budget, Caller, Period

__all__ = [
    "NANOS_PER_USD",
    "UNLIMITED",
    "Account",
    "Balance",
    "Hold",
    "Ledger",
    "LedgerStore",
    "Refusal",
    "period_label",
    "to_nanos",
    "to_usd",
]

NANOS_PER_USD = 1_000_000_000
UNLIMITED = -1  # an account's limit when no budget caps it


def to_nanos(usd: float, *, up: bool = False) -> int:
    """Dollars as integer nanodollars; `up` rounds up (reservations never round down)."""
    scaled = round(usd * NANOS_PER_USD, 3)
    return math.ceil(scaled) if up else round(scaled)


def to_usd(nanos: int) -> float:
    return nanos / NANOS_PER_USD


def period_label(period: Period, at: datetime) -> str:
    """The UTC day (2026-12-02) or month (2026-12) `at` falls in."""
    at = at.astimezone(UTC)
    return f"{at:%Y-%m-%d}" if period == "day" else f"{at:%Y-%m}"


@dataclass(frozen=True, slots=True)
class Account:
    """One budget a call draws on: its store key, limit (nanodollars or UNLIMITED) and meaning."""

    key: str
    limit: int
    scope: str  # tenant_period, tenant_lifetime, organisation_period, organisation_lifetime
    period: str = ""  # the period label, empty for lifetime accounts


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's state in the store."""

    account: Account
    spent: int = 0
    reserved: int = 0
    tokens: Mapping[str, int] = field(default_factory=dict)  # generated tokens per tier
    cost: Mapping[str, int] = field(default_factory=dict)  # nanodollars per tier

    @property
    def remaining(self) -> int | None:
        """What may still be reserved; None when unlimited."""
        if self.account.limit == UNLIMITED:
            return None
        return max(self.account.limit - self.spent - self.reserved, 0)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a reservation did not fit: the first account it would have taken past its limit."""

    account: str
    spent: int
    reserved: int


class LedgerStore(Protocol):
    """Where balances live. Every method is one atomic step; a store that cannot be reached
    raises `LedgerUnavailable` (never answers as if the budget were there)."""

    async def reserve(
        self,
        reservation: str,
        accounts: Sequence[Account],
        amount: int,
        *,
        now: float,
        expires_at: float,
    ) -> Refusal | None:
        """Reserves `amount` on every account, or on none (returns why)."""
        ...

    async def settle(self, reservation: str, actual: int, *, tier: str, tokens: int) -> int | None:
        """Charges min(actual, reserved), releases the rest; the charge, None if unknown."""
        ...

    async def release(self, reservation: str) -> None:
        """Releases a reservation in full (unknown ones: nothing to do)."""
        ...

    async def balances(self, accounts: Sequence[Account]) -> list[Balance]: ...

    async def close(self) -> None: ...


class Hold:
    """One reservation: settle it with the actual cost, or release it; the second call is a
    no-op, so a settlement can never be counted twice."""

    def __init__(self, store: LedgerStore | None, reservation: str, amount: int) -> None:
        self._store = store
        self.reservation = reservation
        self.amount = amount
        self._done = store is None

    @property
    def done(self) -> bool:
        return self._done

    async def settle(self, cost_usd: float, *, tier: str, tokens: int) -> int:
        """Charges the actual cost (capped at the reservation); returns the nanodollars charged."""
        if self._done or self._store is None:
            return 0
        self._done = True
        charged = await self._store.settle(
            self.reservation, to_nanos(cost_usd), tier=tier, tokens=tokens
        )
        return charged or 0

    async def release(self) -> None:
        if self._done or self._store is None:
            return
        self._done = True
        await self._store.release(self.reservation)


class Ledger:
    """A tenant's accounts and reservations on them, over one store."""

    def __init__(
        self,
        store: LedgerStore,
        *,
        clock: Callable[[], float] = time.time,
        margin_s: float = 60.0,
    ) -> None:
        self.store = store
        self._clock = clock
        self._margin_s = margin_s

    def accounts(self, caller: Caller, *, at: datetime | None = None) -> list[Account]:
        """The accounts a call by `caller` draws on at `at` (now by default)."""
        when = at if at is not None else datetime.fromtimestamp(self._clock(), UTC)
        tenant = caller.tenant
        found = _budget_accounts(f"tenant:{tenant.id}", "tenant", tenant.budget, when)
        if not found:  # no budget: still an unlimited account, so the spend is recorded
            label = period_label("month", when)
            found = [
                Account(f"tenant:{tenant.id}:month:{label}", UNLIMITED, "tenant_period", label)
            ]
        if caller.organisation is not None and caller.organisation.budget is not None:
            org = caller.organisation
            found += _budget_accounts(f"org:{org.id}", "organisation", org.budget, when)
        return found

    async def reserve(self, caller: Caller, amount_usd: float, *, hold_s: float) -> Hold:
        """Reserves a call's worst case for up to `hold_s` (+ a margin); raises BudgetExhausted
        with the account that refused and what it has left."""
        amount = to_nanos(amount_usd, up=True)
        accounts = self.accounts(caller)
        reservation = uuid.uuid4().hex
        now = self._clock()
        refusal = await self.store.reserve(
            reservation, accounts, amount, now=now, expires_at=now + hold_s + self._margin_s
        )
        if refusal is None:
            return Hold(self.store, reservation, amount)
        account = next(a for a in accounts if a.key == refusal.account)
        remaining = max(account.limit - refusal.spent - refusal.reserved, 0)
        where = account.scope.replace("_", " ")
        when = f" for {account.period}" if account.period else ""
        raise BudgetExhausted(
            f"budget exhausted: the {where} budget{when} has ${to_usd(remaining):.6f} left "
            f"(${to_usd(refusal.reserved):.6f} reserved by calls in flight) and this call may "
            f"cost up to ${to_usd(amount):.6f}",
            scope=account.scope,
            remaining_usd=to_usd(remaining),
        )

    async def balances(self, caller: Caller, *, at: datetime | None = None) -> list[Balance]:
        return await self.store.balances(self.accounts(caller, at=at))


def _budget_accounts(prefix: str, scope: str, budget: Budget | None, at: datetime) -> list[Account]:
    if budget is None:
        return []
    label = period_label(budget.period, at)
    found = [
        Account(f"{prefix}:{budget.period}:{label}", to_nanos(budget.usd), f"{scope}_period", label)
    ]
    if budget.lifetime_usd is not None:
        found.append(
            Account(f"{prefix}:lifetime", to_nanos(budget.lifetime_usd), f"{scope}_lifetime")
        )
    return found
