"""The ledger store of one router replica: balances in a dict, each step under an asyncio lock.

Spend is lost when the process ends; several replicas need the Redis store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from codecascade.tenancy.ledger import UNLIMITED, Account, Balance, Refusal

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _Account:
    spent: int = 0
    reserved: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    cost: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Reservation:
    accounts: tuple[str, ...]
    amount: int
    expires_at: float


class MemoryStore:
    """In-process `LedgerStore` (the embedded default)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._accounts: dict[str, _Account] = {}
        self._reservations: dict[str, _Reservation] = {}

    def _finish(self, reservation: str, charge: int | None, tier: str, tokens: int) -> int | None:
        held = self._reservations.pop(reservation, None)
        if held is None:
            return None
        charged = held.amount if charge is None else max(min(charge, held.amount), 0)
        for key in held.accounts:
            account = self._accounts.setdefault(key, _Account())
            account.reserved -= held.amount
            account.spent += charged
            if tier:
                account.tokens[tier] = account.tokens.get(tier, 0) + tokens
                account.cost[tier] = account.cost.get(tier, 0) + charged
        return charged

    def _sweep(self, now: float) -> None:
        expired = [r for r, held in self._reservations.items() if held.expires_at <= now]
        for reservation in expired:
            self._finish(reservation, None, "", 0)  # charged in full: see ledger.py

    async def reserve(
        self,
        reservation: str,
        accounts: Sequence[Account],
        amount: int,
        *,
        now: float,
        expires_at: float,
    ) -> Refusal | None:
        async with self._lock:
            self._sweep(now)
            if reservation in self._reservations:
                raise ValueError(f"reservation {reservation} exists")
            for account in accounts:
                state = self._accounts.get(account.key, _Account())
                if (
                    account.limit != UNLIMITED
                    and state.spent + state.reserved + amount > account.limit
                ):
                    return Refusal(account.key, state.spent, state.reserved)
            for account in accounts:
                self._accounts.setdefault(account.key, _Account()).reserved += amount
            self._reservations[reservation] = _Reservation(
                tuple(a.key for a in accounts), amount, expires_at
            )
            return None

    async def settle(self, reservation: str, actual: int, *, tier: str, tokens: int) -> int | None:
        async with self._lock:
            return self._finish(reservation, actual, tier, tokens)

    async def release(self, reservation: str) -> None:
        async with self._lock:
            self._finish(reservation, 0, "", 0)

    async def balances(self, accounts: Sequence[Account]) -> list[Balance]:
        async with self._lock:
            found = []
            for account in accounts:
                state = self._accounts.get(account.key, _Account())
                found.append(
                    Balance(
                        account, state.spent, state.reserved, dict(state.tokens), dict(state.cost)
                    )
                )
            return found

    async def close(self) -> None:
        return None
