"""Errors of the tenancy domain, each a `core.errors` kind so the mesh maps it to a status.

Unauthenticated (core)      no key, a malformed, unknown or revoked key
PermissionDenied (core)     a key may not do this (another tenant's usage, a tier not allowed)
BudgetExhausted             a reservation does not fit a budget; says which and what is left
RateLimited                 a rate or concurrency limit; says when to retry
LedgerUnavailable           the ledger's store cannot be reached: the edge fails closed
TenantsFileError            the tenants file is unreadable or breaks its schema
"""

from __future__ import annotations

from codecascade.core.errors import InvalidInput, ResourceExhausted, Unavailable

__all__ = [
    "BudgetExhausted",
    "LedgerUnavailable",
    "Overloaded",
    "RateLimited",
    "RetryLater",
    "TenantsFileError",
]


class BudgetExhausted(ResourceExhausted):
    """A reservation would take an account past its limit; nothing was reserved."""

    def __init__(self, message: str, *, scope: str, remaining_usd: float) -> None:
        super().__init__(message)
        self.scope = scope
        self.remaining_usd = remaining_usd


class RetryLater(ResourceExhausted):
    """Refused for now, not for good: `retry_after_s` says when to try again."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(RetryLater):
    """A tenant's request rate, token rate or concurrency limit."""


class Overloaded(RetryLater):
    """More work than the tiers can take: the router sheds it rather than queue it forever."""


class LedgerUnavailable(Unavailable):
    """The ledger's store did not answer: no call is let through unmetered (fail closed)."""


class TenantsFileError(InvalidInput):
    """The tenants file is missing, not YAML, or breaks the schema; the message says where."""
