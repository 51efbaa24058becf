"""The budget gauges the near-exhaustion alert reads (docs/dashboards.md): one series per limited
account, owned by the tenant or its organisation, none for unlimited accounts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from codecascade.router.metrics import TenantMetrics
from codecascade.tenancy.ledger import Balance, Ledger, to_nanos
from codecascade.tenancy.memory import MemoryStore
from codecascade.tenancy.tenants import Budget, Organisation
from tests.unit.tenancy.helpers import caller

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _value(registry: CollectorRegistry, name: str, owner: str, scope: str) -> float | None:
    return registry.get_sample_value(name, {"owner": owner, "scope": scope})


def test_limited_accounts_of_tenant_and_organisation_get_gauges() -> None:
    org = Organisation(id="acme", budget=Budget(period="month", usd=10.0, lifetime_usd=50.0))
    who = caller("t1", 2.0, org=org)
    accounts = Ledger(MemoryStore()).accounts(who, at=AT)
    balances = [
        Balance(account, spent=to_nanos(0.5), reserved=to_nanos(0.25)) for account in accounts
    ]
    registry = CollectorRegistry()
    TenantMetrics.create(registry).record_balances(who, balances)
    spent, limit = "codecascade_budget_spent_usd", "codecascade_budget_limit_usd"
    assert _value(registry, spent, "t1", "tenant_period") == pytest.approx(0.75)
    assert _value(registry, limit, "t1", "tenant_period") == pytest.approx(2.0)
    assert _value(registry, limit, "acme", "organisation_period") == pytest.approx(10.0)
    assert _value(registry, limit, "acme", "organisation_lifetime") == pytest.approx(50.0)
    assert _value(registry, spent, "acme", "organisation_lifetime") == pytest.approx(0.75)


def test_unlimited_accounts_have_no_series() -> None:
    who = caller("free", None)
    balances = [Balance(a, spent=to_nanos(3.0)) for a in Ledger(MemoryStore()).accounts(who)]
    registry = CollectorRegistry()
    TenantMetrics.create(registry).record_balances(who, balances)
    assert _value(registry, "codecascade_budget_spent_usd", "free", "tenant_period") is None
