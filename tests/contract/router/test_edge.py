"""The router's public edge over real gRPC: keys, budgets, degrade, rate limits, GetUsage.

Tiers are test doubles (tests/doubles.py and the cascade's Scripted ports); the ledger is the
in-process store here (tests/integration/tenancy runs the same races on Redis).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest

from codecascade.core.errors import ErrorKind
from codecascade.router.cascade import Cascade
from codecascade.router.metering import WorstCase
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.servicer import RETRY_AFTER_KEY, WARNING_KEY
from codecascade.tenancy.keys import new_key
from codecascade.tenancy.ledger import to_nanos
from codecascade.tenancy.tenants import Budget, Organisation, RateLimits, Tenant
from codecascade.tierclient.errors import TierUnavailable
from codecascade.v1 import cascade_service_pb2 as pb
from tests.contract.router.edge_harness import (
    PRICES,
    PROMPT,
    HeldTier,
    all_in_or_refused,
    edged_router,
    held_cascade,
    with_keys,
)
from tests.unit.router.test_cascade import Scripted
from tests.unit.tenancy.helpers import write

T, F = True, False


def _trailing(error_or_call) -> dict[str, str]:
    return {k: v for k, v in (error_or_call.trailing_metadata() or ())}


async def _refused(awaitable) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await awaitable
    return caught.value


@pytest.mark.parametrize(
    ("metadata", "needle"),
    [
        ((), "missing or malformed credentials"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "missing or malformed credentials"),
        ((("authorization", "Bearer short"),), "missing or malformed credentials"),
        ((("authorization", f"Bearer {new_key()}"),), "unknown API key"),
        ("revoked", "was revoked on 2026-12-01 12:00 UTC"),
    ],
    ids=["no-key", "not-bearer", "malformed", "unknown", "revoked"],
)
async def test_auth_table_refuses_with_unauthenticated(tmp_path, metadata, needle) -> None:
    async with edged_router(tmp_path, [Tenant(id="live"), Tenant(id="gone")]) as edged:
        if metadata == "revoked":
            live, gone = edged.edge.directory.tenants.tenants  # type: ignore[union-attr]
            record = gone.keys[0].model_copy(
                update={"revoked": datetime(2026, 12, 1, 12, tzinfo=UTC)}
            )
            write(edged.path, live, gone.model_copy(update={"keys": (record,)}))
            metadata = edged.auth(edged.keys["gone"])
        request = pb.GenerateRequest(task=pb.Task(prompt="def f(x):\n    '''Id.'''\n"))
        error = await _refused(edged.stub.Generate(request, metadata=metadata, timeout=30))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED
        assert needle in (error.details() or "")
        usage_error = await _refused(
            edged.stub.GetUsage(pb.GetUsageRequest(), metadata=metadata, timeout=30)
        )
        assert usage_error.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_a_valid_key_is_served_and_x_tenant_id_cannot_spoof_another_tenant(
    tmp_path,
) -> None:
    tenants = [Tenant(id="alice", budget=Budget(usd=5)), Tenant(id="bob", budget=Budget(usd=5))]
    async with edged_router(tmp_path, tenants) as edged:
        response, trailing = await edged.generate(edged.keys["alice"], ("x-tenant-id", "bob"))
        assert response.code and not response.degraded
        assert WARNING_KEY not in trailing  # auth is on: no warning
        mine = await edged.usage(edged.keys["alice"])
        assert mine.tenant_id == "alice"
        assert mine.budgets[0].spent_usd == pytest.approx(0.02)  # the double's cost
        assert mine.budgets[0].tiers[0].tier == "S"
        assert mine.budgets[0].tiers[0].completion_tokens == 20
        assert (await edged.usage(edged.keys["bob"])).budgets[0].spent_usd == 0


async def test_the_tenants_file_is_reloaded_without_a_restart(tmp_path) -> None:
    async with edged_router(tmp_path, [Tenant(id="first")]) as edged:
        (newcomer,), keys = with_keys([Tenant(id="newcomer")])
        error = await _refused(edged.generate(keys["newcomer"]))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED
        write(edged.path, *edged.edge.directory.tenants.tenants, newcomer)  # type: ignore[union-attr]
        response, _ = await edged.generate(keys["newcomer"])
        assert response.code


async def test_auth_off_warns_on_every_response_and_trusts_x_tenant_id(tmp_path) -> None:
    async with edged_router(tmp_path, [], auth=False) as edged:
        response, trailing = await edged.generate(None, ("x-tenant-id", "anyone"))
        assert "authentication is off" in trailing[WARNING_KEY]
        assert response.code
        usage = await edged.stub.GetUsage(
            pb.GetUsageRequest(), metadata=(("x-tenant-id", "anyone"),), timeout=30
        )
        assert usage.tenant_id == "anyone" and usage.budgets[0].spent_usd == pytest.approx(0.02)
        assert not usage.budgets[0].limited
        error = await _refused(
            edged.stub.Generate(
                pb.GenerateRequest(task=pb.Task(prompt="Say hi.")),
                metadata=(("x-tenant-id", "anyone"),),
                timeout=30,
            )
        )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "authentication is off" in _trailing(error)[WARNING_KEY]


async def test_budget_race_fifty_concurrent_requests_never_overspend(tmp_path) -> None:
    tier = HeldTier()
    tier.go.clear()  # every call that reserved waits in the tier until all have tried
    tenants = [Tenant(id="t", budget=Budget(period="day", usd=1.0))]  # ten worst cases of $0.10
    async with edged_router(tmp_path, tenants, cascade=held_cascade(tier)) as edged:
        key = edged.keys["t"]
        tasks = [asyncio.ensure_future(edged.generate(key)) for _ in range(50)]
        await all_in_or_refused(tasks, tier)
        assert tier.entered == 10
        during = (await edged.usage(key)).budgets[0]
        assert during.reserved_usd == pytest.approx(1.0) and during.remaining_usd == 0
        tier.go.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(refused) == 40
        assert all(e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED for e in refused)
        assert "budget exhausted: the tenant period budget for 2026-12-02" in (
            refused[0].details() or ""
        )
        trailing = _trailing(refused[0])
        assert trailing["x-budget-scope"] == "tenant_period"
        assert float(trailing["x-budget-remaining-usd"]) == 0.0
        after = (await edged.usage(key)).budgets[0]
        assert after.spent_usd == pytest.approx(10 * 0.02) and after.reserved_usd == 0
        assert after.spent_usd + after.reserved_usd <= after.limit_usd


async def test_the_organisation_cap_holds_across_its_tenants(tmp_path) -> None:
    tier = HeldTier()
    tier.go.clear()
    acme = Organisation(id="acme", budget=Budget(period="month", usd=0.5))  # five worst cases
    tenants = [Tenant(id=f"t{i}", organisation="acme", budget=Budget(usd=1.0)) for i in range(3)]
    async with edged_router(
        tmp_path, tenants, organisations=(acme,), cascade=held_cascade(tier)
    ) as edged:
        tasks = [asyncio.ensure_future(edged.generate(edged.keys[f"t{i % 3}"])) for i in range(15)]
        await all_in_or_refused(tasks, tier)
        assert tier.entered == 5
        tier.go.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(refused) == 10
        assert {_trailing(e)["x-budget-scope"] for e in refused} == {"organisation_period"}
        usage = await edged.usage(edged.keys["t0"])
        org = next(b for b in usage.budgets if b.scope == pb.BUDGET_SCOPE_ORGANISATION_PERIOD)
        assert org.spent_usd == pytest.approx(5 * 0.02) and org.period == "2026-12"
        assert usage.organisation_id == "acme"


def _two_tiers(scripted: Scripted) -> Cascade:
    policy = CascadePolicy(
        tiers=(
            TierPolicy(tier="S", k=2, test_lines=2, threshold=0.9),
            TierPolicy(tier="M", k=2, test_lines=2, threshold=0.9),
        )
    )
    return Cascade(policy, scripted, scripted, scripted)


def _escalating() -> Scripted:
    return Scripted({"S": "meh", "M": "ok"}, {}, {"S": [[T, F], [F, F]], "M": [[T, T], [T, T]]})


# At $1 (S) and $10 (M) per 1k tokens: S as configured may cost $1.344, M $13.44, and M as one
# greedy answer $5.12. A $7 budget pays for S, then not for M unless M degrades to greedy.
WORST = WorstCase({"S": 1.0, "M": 10.0})


def test_worst_cases_follow_the_policy_and_test_synthesis_cap() -> None:
    from codecascade.testsynth import synthesis

    assert (WORST.test_tokens_overhead, WORST.test_tokens_per_line) == (
        synthesis._TOKENS_OVERHEAD,
        synthesis._TOKENS_PER_LINE,
    )
    assert WORST.prices == PRICES  # what the harness's router prices tiers at
    s, m = _two_tiers(_escalating()).policy.tiers
    assert WORST.cost_usd(s) == pytest.approx(1.344)
    assert WORST.cost_usd(m) == pytest.approx(13.44)
    greedy = m.model_copy(update={"k": 0, "test_lines": 0})
    assert WORST.cost_usd(greedy) == pytest.approx(5.12)


@pytest.mark.parametrize("mode", ["refuse", "degrade"])
async def test_a_tier_the_budget_cannot_hold_refuses_or_degrades(tmp_path, mode) -> None:
    tenants = [Tenant(id="t", budget=Budget(usd=7.0), on_budget_exhausted=mode)]
    async with edged_router(tmp_path, tenants, cascade=_two_tiers(_escalating())) as edged:
        if mode == "refuse":
            error = await _refused(edged.generate(edged.keys["t"]))
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "may cost up to $13.440000" in (error.details() or "")
        else:
            response, _ = await edged.generate(edged.keys["t"])
            assert response.degraded and response.tier == "M"
            assert response.decision == pb.DECISION_UNTESTED
            assert "answered by M with k = 0" in response.degraded_reason
        usage = (await edged.usage(edged.keys["t"])).budgets[0]
        assert usage.reserved_usd == 0
        assert {t.tier for t in usage.tiers} == ({"S"} if mode == "refuse" else {"S", "M"})


async def test_a_failed_tier_call_releases_its_reservation(tmp_path) -> None:
    scripted = Scripted({"S": TierUnavailable("down"), "M": "ok"}, {}, {"M": [[T, T], [T, T]]})
    tenants = [Tenant(id="t", budget=Budget(usd=20.0))]
    async with edged_router(tmp_path, tenants, cascade=_two_tiers(scripted)) as edged:
        response, _ = await edged.generate(edged.keys["t"])
        assert [a.decision for a in response.attempts] == [
            pb.DECISION_SKIPPED,
            pb.DECISION_ACCEPTED,
        ]
        usage = (await edged.usage(edged.keys["t"])).budgets[0]
        by_tier = {t.tier: t.cost_usd for t in usage.tiers}
        # S charged only what its tests cost before the solutions failed; the rest released.
        assert by_tier["S"] == pytest.approx(0.0001)
        assert usage.reserved_usd == 0
        assert usage.spent_usd == pytest.approx(sum(by_tier.values()))


async def test_a_tier_that_raises_a_bug_releases_its_reservation_too(tmp_path) -> None:
    scripted = Scripted({"S": RuntimeError("bug"), "M": "ok"}, {}, {})
    tenants = [Tenant(id="t", budget=Budget(usd=20.0))]
    async with edged_router(tmp_path, tenants, cascade=_two_tiers(scripted)) as edged:
        error = await _refused(edged.generate(edged.keys["t"]))
        assert error.code() is grpc.StatusCode.INTERNAL
        usage = (await edged.usage(edged.keys["t"])).budgets[0]
        assert usage.reserved_usd == 0 and usage.spent_usd == 0


async def test_allowed_tiers_limit_the_plan(tmp_path) -> None:
    tenants = [Tenant(id="t", allowed_tiers=("S",)), Tenant(id="u", allowed_tiers=("XL",))]
    async with edged_router(tmp_path, tenants, cascade=_two_tiers(_escalating())) as edged:
        response, _ = await edged.generate(edged.keys["t"])
        assert [a.tier for a in response.attempts] == ["S"] and response.tier == "S"
        error = await _refused(edged.generate(edged.keys["u"]))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "may use tiers ['XL']" in (error.details() or "")


async def test_rate_limits_refuse_with_retry_after(tmp_path) -> None:
    tenants = [Tenant(id="t", rate_limits=RateLimits(requests_per_min=2))]
    async with edged_router(tmp_path, tenants) as edged:
        for _ in range(2):
            await edged.generate(edged.keys["t"])
        error = await _refused(edged.generate(edged.keys["t"]))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _trailing(error)[RETRY_AFTER_KEY] == "30"
        assert "more than 2 requests per minute" in (error.details() or "")
        edged.clock.advance(30)  # the injected clock, not a sleep
        await edged.generate(edged.keys["t"])


async def test_concurrent_requests_cap(tmp_path) -> None:
    tier = HeldTier()
    tier.go.clear()
    tenants = [Tenant(id="t", rate_limits=RateLimits(concurrent_requests=2))]
    async with edged_router(tmp_path, tenants, cascade=held_cascade(tier)) as edged:
        tasks = [asyncio.ensure_future(edged.generate(edged.keys["t"])) for _ in range(3)]
        await all_in_or_refused(tasks, tier)
        assert tier.entered == 2
        tier.go.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        (refused,) = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _trailing(refused)[RETRY_AFTER_KEY] == "1"
        await edged.generate(edged.keys["t"])  # the slots were given back


async def test_get_usage_own_other_and_admin(tmp_path) -> None:
    tenants = [
        Tenant(id="t", budget=Budget(usd=2.0, lifetime_usd=10.0)),
        Tenant(id="u"),
        Tenant(id="ops", admin=True),
    ]
    async with edged_router(tmp_path, tenants) as edged:
        await edged.generate(edged.keys["t"])
        own = await edged.usage(edged.keys["t"])
        scopes = {b.scope: b for b in own.budgets}
        period = scopes[pb.BUDGET_SCOPE_TENANT_PERIOD]
        assert (period.period, period.limited, period.limit_usd) == ("2026-12", True, 2.0)
        assert period.remaining_usd == pytest.approx(2.0 - 0.02)
        assert scopes[pb.BUDGET_SCOPE_TENANT_LIFETIME].spent_usd == pytest.approx(0.02)
        error = await _refused(edged.usage(edged.keys["u"], "t"))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "admin key" in (error.details() or "")
        assert (await edged.usage(edged.keys["ops"], "t")).budgets[0].spent_usd == pytest.approx(
            0.02
        )
        missing = await _refused(edged.usage(edged.keys["ops"], "nobody"))
        assert missing.code() is grpc.StatusCode.NOT_FOUND
        past = await edged.stub.GetUsage(
            pb.GetUsageRequest(period="2026-11"), metadata=edged.auth(edged.keys["t"]), timeout=30
        )
        assert past.budgets[0].period == "2026-11" and past.budgets[0].spent_usd == 0
        assert to_nanos(period.spent_usd) == to_nanos(0.02)


def test_the_new_kinds_map_to_their_status() -> None:
    from codecascade.mesh.errors import status_code

    assert status_code(ErrorKind.UNAUTHENTICATED) is grpc.StatusCode.UNAUTHENTICATED
    assert status_code(ErrorKind.PERMISSION_DENIED) is grpc.StatusCode.PERMISSION_DENIED


async def test_cascade_usage_renders_what_get_usage_says(tmp_path) -> None:
    from codecascade.cli.tenants import _get_usage, render_usage

    acme = Organisation(id="acme", budget=Budget(usd=3.0))
    tenants = [Tenant(id="t", organisation="acme", budget=Budget(period="day", usd=1.0))]
    async with edged_router(tmp_path, tenants, organisations=(acme,)) as edged:
        await edged.generate(edged.keys["t"])
        response = await _get_usage(edged.address, edged.keys["t"], "", "")
    text = render_usage(response)
    assert text.splitlines()[0] == "tenant t (organisation acme)"
    assert "  tenant 2026-12-02: spent $0.020000, reserved $0.000000, limit $1.000000" in text
    assert "  organisation 2026-12: spent $0.020000" in text
    assert "    S: 20 tokens, $0.020000" in text


async def test_per_tenant_metrics(tmp_path) -> None:
    from prometheus_client import CollectorRegistry

    from codecascade.router.metrics import TenantMetrics

    registry = CollectorRegistry()
    tenants = [Tenant(id="t", budget=Budget(usd=0.11))]  # one worst case of $0.10 fits
    async with edged_router(tmp_path, tenants, metrics=TenantMetrics.create(registry)) as edged:
        await edged.generate(edged.keys["t"])
        await _refused(edged.generate(edged.keys["t"]))  # $0.09 left: the next does not fit
        await _refused(edged.generate(new_key(), ("x-tenant-id", "made-up")))

    def value(name, **labels):
        return registry.get_sample_value(name, labels) or 0.0

    assert value("codecascade_tenant_requests_total", tenant="t", outcome="ok") == 1
    assert value("codecascade_tenant_cost_usd_total", tenant="t") == pytest.approx(0.02)
    assert value("codecascade_tenant_requests_total", tenant="t", outcome="resource_exhausted") == 1
    assert (
        value(
            "codecascade_tenant_requests_total",
            tenant="unauthenticated",
            outcome="unauthenticated",
        )
        == 1
    )
    assert value("codecascade_tenant_requests_total", tenant="made-up", outcome="ok") == 0
    # The budget gauges the near-exhaustion alert reads: the ledger as of the last request.
    scope = {"owner": "t", "scope": "tenant_period"}
    assert value("codecascade_budget_spent_usd", **scope) == pytest.approx(0.02)
    assert value("codecascade_budget_limit_usd", **scope) == pytest.approx(0.11)


async def test_a_tenant_runs_its_own_policy_and_tier_ceiling(tmp_path) -> None:
    own = tmp_path / "m-only.yaml"
    own.write_text(
        CascadePolicy(tiers=(TierPolicy(tier="M", k=2, test_lines=2, threshold=0.5),)).to_yaml()
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("tiers: []\n")
    tenants = [
        Tenant(id="own", policy_file=str(own)),
        Tenant(id="capped", max_tier="S"),
        Tenant(id="odd", max_tier="XL"),
        Tenant(id="broken", policy_file=str(broken)),
    ]
    async with edged_router(tmp_path, tenants, cascade=_two_tiers(_escalating())) as edged:
        response, _ = await edged.generate(edged.keys["own"])
        assert [a.tier for a in response.attempts] == ["M"]
        response, _ = await edged.generate(edged.keys["capped"], max_tier="M")
        assert [a.tier for a in response.attempts] == ["S"]  # the request cannot lift the cap
        assert response.decision == pb.DECISION_FINAL
        error = await _refused(edged.generate(edged.keys["odd"]))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        error = await _refused(edged.generate(edged.keys["broken"]))
        assert error.code() is grpc.StatusCode.UNAVAILABLE
        assert "policy file cannot be used" in (error.details() or "")


async def test_the_stream_authenticates_too(tmp_path) -> None:
    async with edged_router(tmp_path, [Tenant(id="t")]) as edged:
        request = pb.GenerateStreamRequest(request=pb.GenerateRequest(task=pb.Task(prompt=PROMPT)))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in edged.stub.GenerateStream(request, timeout=30):
                pass
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        events = [
            message.WhichOneof("event")
            async for message in edged.stub.GenerateStream(
                request, metadata=edged.auth(edged.keys["t"]), timeout=30
            )
        ]
        assert events[-1] == "completed"


async def test_settings_build_the_edge(tmp_path) -> None:
    from codecascade.router.config import RouterSettings
    from codecascade.router.server import build_edge
    from codecascade.tenancy.memory import MemoryStore
    from codecascade.tenancy.redis_store import RedisStore

    base = {"testsynth_addr": "x:1", "sandbox_addr": "x:1", "policy_file": "p.yaml"}
    open_edge = build_edge(RouterSettings.load(**base))
    assert not open_edge.auth_enabled and isinstance(open_edge.ledger.store, MemoryStore)
    write(tmp_path / "tenants.yaml", Tenant(id="t"))
    edge = build_edge(
        RouterSettings.load(
            **base,
            tenants_file=str(tmp_path / "tenants.yaml"),
            ledger_store="redis",
            redis_url="redis://127.0.0.1:1/0",
        )
    )
    assert edge.auth_enabled and isinstance(edge.ledger.store, RedisStore)
    assert edge.directory is not None and edge.directory.tenants.tenant("t") is not None
    await edge.ledger.store.close()
