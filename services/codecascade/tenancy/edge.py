"""The public edge's tenancy in one place: who is calling, may they start, what have they spent.

The router's servicer reads the call's metadata and hands it here; this module does the rest
without gRPC. With a tenants file, the key decides the tenant (a caller's `x-tenant-id` is
ignored). Without one, auth is off: the tenant is whatever `x-tenant-id` says, nothing is
limited, and `OPEN_WARNING` is logged at start and returned on every response.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from codecascade.core.errors import InvalidInput, NotFound, PermissionDenied
from codecascade.tenancy.keys import bearer_key
from codecascade.tenancy.ledger import Balance, Ledger
from codecascade.tenancy.ratelimit import RateGate, Slot
from codecascade.tenancy.tenants import Caller, Tenant, TenantDirectory

__all__ = ["OPEN_WARNING", "Edge", "UsageReport"]

OPEN_WARNING = (
    "INSECURE: authentication is off (no tenants file): any caller may claim any tenant and "
    "nothing limits spend; set TENANTS_FILE for production"
)


@dataclass(frozen=True, slots=True)
class UsageReport:
    tenant: str
    organisation: str
    balances: tuple[Balance, ...]


def _period_instant(period: str) -> datetime | None:
    """The first instant of a period label (2026-12-02 or 2026-12); None for the current one."""
    if not period:
        return None
    for pattern in ("%Y-%m-%d", "%Y-%m"):
        try:
            return datetime.strptime(period, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise InvalidInput(f"period must be a UTC day (2026-12-02) or month (2026-12); got {period!r}")


class Edge:
    """Authentication, rate limits and the budget ledger for the router's public port."""

    def __init__(
        self, directory: TenantDirectory | None, ledger: Ledger, limiter: RateGate
    ) -> None:
        self.directory = directory
        self.ledger = ledger
        self.limiter = limiter

    @property
    def auth_enabled(self) -> bool:
        return self.directory is not None

    def authenticate(
        self, authorization: str | None, claimed_tenant: str, *, client_cert: str = ""
    ) -> Caller:
        """The caller: from the key (or, without one, a registered client certificate) when
        auth is on (raises Unauthenticated), else the tenant the caller claims, unlimited."""
        if self.directory is None:
            return Caller(Tenant(id=claimed_tenant), None, "")
        key = bearer_key(authorization) if authorization else None
        if authorization and key is None:
            return self.directory.authenticate(None)  # malformed: say so, whatever the cert
        return self.directory.authenticate(key, client_cert=client_cert)

    async def admit(self, caller: Caller, *, hold_s: float) -> Slot:
        """A slot under the tenant's rate and concurrency limits for a request of at most
        `hold_s` (raises RateLimited)."""
        return await self.limiter.admit(caller.tenant.id, caller.tenant.rate_limits, hold_s=hold_s)

    async def usage(self, caller: Caller, tenant_id: str = "", period: str = "") -> UsageReport:
        """A tenant's balances: the caller's own, or (admin key) any tenant's."""
        at = _period_instant(period)
        subject = caller
        if tenant_id and tenant_id != caller.tenant.id:
            if self.directory is not None and not caller.tenant.admin:
                raise PermissionDenied(
                    f"the key of tenant {caller.tenant.id} may read only its own usage; "
                    "another tenant's needs an admin key"
                )
            if self.directory is None:
                subject = Caller(Tenant(id=tenant_id), None, "")
            else:
                tenants = self.directory.tenants
                tenant = tenants.tenant(tenant_id)
                if tenant is None:
                    raise NotFound(f"no tenant {tenant_id!r} in the tenants file")
                org = tenants.organisation(tenant.organisation) if tenant.organisation else None
                subject = Caller(tenant, org, "")
        balances = await self.ledger.balances(subject, at=at)
        return UsageReport(
            subject.tenant.id,
            subject.organisation.id if subject.organisation else "",
            tuple(balances),
        )
