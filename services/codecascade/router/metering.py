"""The cascade's `TierGate` for one tenant's request: worst case held, actual cost settled,
and each tier call admitted through the tier's fair queue at the tenant's weight.

A tier call's worst case is what it could generate at most, priced by the one cost formula
(`core.usage.token_cost`): max(k, 1) solutions of `max_tokens` each, plus, for a tested tier
(k > 0), t test generations of at most `test_tokens_overhead + test_tokens_per_line x l` tokens
each (test synthesis's own cap; a contract test holds the two equal), all at the tier's price.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from codecascade.core.usage import Usage, token_cost
from codecascade.router.policy import TierPolicy
from codecascade.router.ports import Reservation, TierTicket
from codecascade.tenancy.admission import Admission, Ticket
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
        try:
            await self._hold.settle(usage.cost_usd, tier=tier, tokens=usage.completion_tokens)
        except LedgerUnavailable as exc:
            # The reservation stays held and is charged in full when it expires: never less
            # than was spent, and only once.
            _log.error("settlement deferred to the reservation's expiry: %s", exc)
        if self._slot is not None:
            try:
                await self._slot.record_tokens(usage.completion_tokens)
            except LedgerUnavailable as exc:
                _log.error("generated tokens not counted against the rate limit: %s", exc)

    async def release(self) -> None:
        try:
            await self._hold.release()
        except LedgerUnavailable as exc:
            _log.error("release deferred to the reservation's expiry: %s", exc)


class TenantMeter:
    """One request's gate: reserves on the caller's accounts in the ledger."""

    def __init__(
        self,
        ledger: Ledger,
        caller: Caller,
        worst: WorstCase,
        slot: Slot | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._ledger = ledger
        self._caller = caller
        self._worst = worst
        self._slot = slot
        self._admission = admission

    @property
    def degrade(self) -> bool:
        return self._caller.tenant.on_budget_exhausted == "degrade"

    async def reserve(self, tier: TierPolicy, *, hold_s: float) -> Reservation:
        hold = await self._ledger.reserve(self._caller, self._worst.cost_usd(tier), hold_s=hold_s)
        return _TierHold(hold, self._slot)

    @contextlib.asynccontextmanager
    async def admitted(self, tier: TierPolicy, *, timeout_s: float) -> AsyncIterator[TierTicket]:
        queue = self._admission.queue(tier.tier) if self._admission is not None else None
        if queue is None:
            yield Ticket()  # nobody reads it: this tier is admitted freely
            return
        tenant = self._caller.tenant
        async with queue.slot(tenant.id, tenant.weight, timeout_s=timeout_s) as ticket:
            yield ticket
