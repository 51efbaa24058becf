"""The cascade's `SpendGate` for one tenant's request: worst case held, actual cost settled.

A tier call's worst case is what it could generate at most, priced by the one cost formula
(`core.usage.token_cost`): max(k, 1) solutions of `max_tokens` each, plus, for a tested tier
(k > 0), t test generations of at most `test_tokens_overhead + test_tokens_per_line x l` tokens
each (test synthesis's own cap; a contract test holds the two equal), all at the tier's price.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from codecascade.core.usage import Usage, token_cost
from codecascade.router.policy import TierPolicy
from codecascade.router.ports import Reservation
from codecascade.tenancy.errors import LedgerUnavailable
from codecascade.tenancy.ledger import Hold, Ledger
from codecascade.tenancy.ratelimit import Slot
from codecascade.tenancy.tenants import Caller

__all__ = ["TenantMeter", "WorstCase"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorstCase:
    """Prices per tier and test synthesis's token cap: the most a tier call can cost."""

    prices: Mapping[str, float]  # dollars per 1000 generated tokens, by tier name
    test_tokens_overhead: int = 64
    test_tokens_per_line: int = 48

    def tokens(self, tier: TierPolicy) -> int:
        solutions = max(tier.k, 1) * tier.max_tokens
        if tier.k <= 0:
            return solutions
        per_generation = self.test_tokens_overhead + self.test_tokens_per_line * tier.test_lines
        return solutions + tier.generations * per_generation

    def cost_usd(self, tier: TierPolicy) -> float:
        return token_cost(self.tokens(tier), self.prices.get(tier.tier, 0.0))


class _TierHold:
    def __init__(self, hold: Hold, slot: Slot | None) -> None:
        self._hold = hold
        self._slot = slot

    async def settle(self, tier: str, usage: Usage) -> None:
        if self._slot is not None:
            self._slot.record_tokens(usage.completion_tokens)
        try:
            await self._hold.settle(usage.cost_usd, tier=tier, tokens=usage.completion_tokens)
        except LedgerUnavailable as exc:
            # The reservation stays held and is charged in full when it expires: never less
            # than was spent, and only once.
            _log.error("settlement deferred to the reservation's expiry: %s", exc)

    async def release(self) -> None:
        try:
            await self._hold.release()
        except LedgerUnavailable as exc:
            _log.error("release deferred to the reservation's expiry: %s", exc)


class TenantMeter:
    """One request's gate: reserves on the caller's accounts in the ledger."""

    def __init__(
        self, ledger: Ledger, caller: Caller, worst: WorstCase, slot: Slot | None = None
    ) -> None:
        self._ledger = ledger
        self._caller = caller
        self._worst = worst
        self._slot = slot

    @property
    def degrade(self) -> bool:
        return self._caller.tenant.on_budget_exhausted == "degrade"

    async def reserve(self, tier: TierPolicy, *, hold_s: float) -> Reservation:
        hold = await self._ledger.reserve(self._caller, self._worst.cost_usd(tier), hold_s=hold_s)
        return _TierHold(hold, self._slot)
