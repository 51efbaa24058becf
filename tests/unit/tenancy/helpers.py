"""Builders for tenancy tests (tenants, callers, a settable clock); never used by product code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from codecascade.tenancy.keys import hash_key, new_key, new_key_id
from codecascade.tenancy.tenants import (
    ApiKey,
    Budget,
    Caller,
    Organisation,
    Tenant,
    TenantsFile,
    write_tenants,
)

CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
# 2026-12-02 12:00 UTC as a Unix time: the ledger's clock in these tests.
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def keyed(tenant: Tenant) -> tuple[Tenant, str]:
    """The tenant with one fresh key added, and that key."""
    key = new_key()
    record = ApiKey(id=new_key_id(), sha256=hash_key(key), created=CREATED)
    return tenant.model_copy(update={"keys": (*tenant.keys, record)}), key


def caller(
    tenant_id: str = "t1",
    usd: float | None = 1.0,
    *,
    lifetime: float | None = None,
    org: Organisation | None = None,
    period: str = "day",
) -> Caller:
    budget = None if usd is None else Budget(period=period, usd=usd, lifetime_usd=lifetime)  # type: ignore[arg-type]
    tenant = Tenant(id=tenant_id, budget=budget, organisation=org.id if org else "")
    return Caller(tenant, org, "")


def write(path: Path, *tenants: Tenant, organisations: tuple[Organisation, ...] = ()) -> None:
    write_tenants(path, TenantsFile(organisations=organisations, tenants=tenants))
