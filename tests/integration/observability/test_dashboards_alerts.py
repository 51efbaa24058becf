"""The chart's dashboard queries and alert rules against a real Prometheus scraping a live mesh.

The mesh: router, test synthesis and sandbox as `cascade serve` processes (their own /metrics
ports, spans sampled so exemplars carry trace ids), two tiers S -> M as OIP v2 servers on the wire
(tests.doubles.OipTierDouble: what the models write does not matter here, the series do). S writes
a wrong solution, so every request escalates to M, which is accepted; the router's edge is on with
a tenant whose budget is exactly one request, so its budget is spent to the last nanodollar. The
sandbox runs the process backend (its isolation is not under test; gVisor would double the start).

Prometheus (Debian's, `codecascade.cli.prometheus`) scrapes every service, the tiers with a `tier`
target label (as the chart's PodMonitor sets it), and loads the chart's own rule file with every
`for:` at 0 s. Every query comes from the chart's files through tests.promql: each dashboard query
must return series carrying the labels its legend names; each rule must evaluate; the budget alert
must fire; S solutions that kill their sandbox must fire the crash alert; stopping tier M while
requests arrive must fire CodecascadeTierNoReadyReplicas and CodecascadeTierFailing. Exemplars are
read back through /api/v1/query_exemplars.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from codecascade.cli.prometheus import RunningPrometheus, ScrapeJob, prometheus_running
from codecascade.cli.supervisor import Child, free_port, supervised
from codecascade.core.tiers import TierSpec
from codecascade.mesh.channels import open_channel
from codecascade.router.metering import WorstCase
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.tenancy.tenants import Budget, Tenant
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from tests.doubles import OipTierDouble
from tests.promql import dashboard_queries, rules, rules_with_for
from tests.unit.tenancy.helpers import keyed, write

pytestmark = [pytest.mark.timeout(240), pytest.mark.asyncio(loop_scope="module")]

PROMPT = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n'
TESTS = "```python\nassert add(1, 2) == 3\nassert add(2, 5) == 7\n```"
WRONG = "```python\ndef add(a: int, b: int) -> int:\n    return a - b\n```"
RIGHT = "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```"
# A task whose S solutions kill their sandbox: every one of their test cells crashes.
CRASHING_PROMPT = PROMPT.replace("a and b.", "a and b (S's answer kills its sandbox).")
CRASH = "```python\nimport os\n\n\ndef add(a: int, b: int) -> int:\n    os._exit(3)\n```"
POLICY = CascadePolicy(
    tiers=(
        TierPolicy(tier="S", k=2, test_lines=2, threshold=0.9, max_tokens=32),
        TierPolicy(tier="M", k=2, test_lines=2, threshold=0.5, max_tokens=32),
    )
)
PRICES = {"S": 0.5, "M": 2.0}  # dollars per 1000 generated tokens
# Grafana's $__rate_interval for a 1 s scrape would be 4 s; a minute keeps every early sample.
RATE_INTERVAL = "1m"


def _answer(solution: str, crash: str = "") -> Any:
    def answer(prompt: str) -> str:
        if "lines of code to test" in prompt:
            return TESTS
        return crash if crash and "kills its sandbox" in prompt else solution

    return answer


@dataclass
class Observed:
    """The running mesh, its Prometheus, and what the requests returned."""

    prometheus: RunningPrometheus
    router: Child
    tiers: dict[str, OipTierDouble]
    keys: dict[str, str]
    trace_ids: list[str] = field(default_factory=list)

    async def generate(self, tenant: str, prompt: str = PROMPT) -> pb.GenerateResponse:
        request = pb.GenerateRequest(task=pb.Task(prompt=prompt, entry_point="add"), seed=1)
        async with open_channel(self.router.address) as channel:
            response: pb.GenerateResponse = await pb_grpc.CascadeServiceStub(channel).Generate(
                request, metadata=(("authorization", f"Bearer {self.keys[tenant]}"),), timeout=60
            )
        self.trace_ids.append(response.trace_id)
        return response

    async def query(self, expr: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            reply = await client.get(f"{self.prometheus.url}/api/v1/query", params={"query": expr})
        body = reply.json()
        assert reply.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def until(self, expr: str, *, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The query's result once it is non-empty (Prometheus scrapes and evaluates each 1 s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = await self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.5)

    async def alerts(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            reply = await client.get(f"{self.prometheus.url}/api/v1/alerts")
        found: list[dict[str, Any]] = reply.json()["data"]["alerts"]
        return found

    async def firing(self, name: str, *, timeout_s: float = 30.0, **labels: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        alerts: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            alerts = await self.alerts()
            for alert in alerts:
                if (
                    alert["labels"]["alertname"] == name
                    and alert["state"] == "firing"
                    and labels.items() <= alert["labels"].items()
                ):
                    return alert
            await asyncio.sleep(0.5)
        raise AssertionError(f"{name} {labels} not firing within {timeout_s} s; alerts: {alerts}")


def _mesh_children(run_dir: Path, tiers: dict[str, OipTierDouble], tenants: Path) -> list[Child]:
    config = run_dir / "config.yaml"
    specs = [
        TierSpec(
            name=name,
            address=tier.address,
            model=tier.model,
            price_per_1k_tokens=PRICES[name],
            max_attempts=1,  # a stopped tier is reported at once, not after retries
        ).model_dump(mode="json", exclude_defaults=True)
        for name, tier in tiers.items()
    ]
    config.write_text(yaml.safe_dump({"tiers": specs}, sort_keys=False))
    policy = run_dir / "policy.yaml"
    policy.write_text(POLICY.to_yaml())
    common = {"CODECASCADE_CONFIG": str(config), "LOG_LEVEL": "WARNING"}
    sandbox = Child(
        "sandbox",
        ["serve", "sandbox"],
        free_port(),
        env={
            **common,
            "METRICS_PORT": str(free_port()),
            "SANDBOX_BACKEND": "process",
            "SANDBOX_ALLOW_INSECURE": "true",
        },
    )
    testsynth = Child(
        "testsynth",
        ["serve", "testsynth"],
        free_port(),
        env={**common, "METRICS_PORT": str(free_port())},
    )
    router = Child(
        "router",
        ["serve", "router"],
        free_port(),
        env={
            **common,
            "METRICS_PORT": str(free_port()),
            "POLICY_FILE": str(policy),
            "TESTSYNTH_ADDR": testsynth.address,
            "SANDBOX_ADDR": sandbox.address,
            "TENANTS_FILE": str(tenants),
            "HTTP_ENABLED": "false",
        },
    )
    return [sandbox, testsynth, router]


def _one_request_worth() -> float:
    """What one escalating request costs: the worst case of S and M, charged in full (the tier
    double reports max_tokens per sample)."""
    worst = WorstCase(PRICES)
    return sum(worst.cost_usd(tier) for tier in POLICY.tiers)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Observed]:
    run_dir = tmp_path_factory.mktemp("observed")
    tiers = {
        "S": OipTierDouble("s-model", _answer(WRONG, crash=CRASH)),
        "M": OipTierDouble("m-model", _answer(RIGHT)),
    }
    for tier in tiers.values():
        await tier.start()
    tenants = run_dir / "tenants.yaml"
    acme, acme_key = keyed(Tenant(id="acme", budget=Budget(period="day", usd=_one_request_worth())))
    open_, open_key = keyed(Tenant(id="open"))
    write(tenants, acme, open_)
    rule_file = run_dir / "rules.yaml"
    rule_file.write_text(yaml.safe_dump(rules_with_for("0s"), sort_keys=False))
    children = _mesh_children(run_dir, tiers, tenants)
    try:
        async with supervised(children, start_timeout_s=90):
            jobs = [ScrapeJob(c.name, [f"127.0.0.1:{c.env['METRICS_PORT']}"]) for c in children] + [
                ScrapeJob(f"tier-{name}", [f"127.0.0.1:{tier.metrics_port}"], labels={"tier": name})
                for name, tier in tiers.items()
            ]
            async with prometheus_running(
                jobs, workdir=run_dir / "prometheus", rule_files=[rule_file]
            ) as prometheus:
                mesh = Observed(
                    prometheus, children[-1], tiers, {"acme": acme_key, "open": open_key}
                )
                # Every target scraped once before any request: a counter's first sample is
                # then its value before the traffic, so rate() sees all of the traffic.
                assert await mesh.until(f"count(up == 1) == {len(jobs)}"), "targets not up"
                yield mesh
    finally:
        for tier in tiers.values():
            await tier.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def traffic(observed: Observed) -> Observed:
    """Four escalating requests from `open` (S's solutions in one of them kill their sandbox),
    one from `acme` (its whole budget), scraped."""
    for tenant, prompt in (
        ("open", PROMPT),
        ("acme", PROMPT),
        ("open", PROMPT),
        ("open", CRASHING_PROMPT),
        ("open", PROMPT),
    ):
        response = await observed.generate(tenant, prompt)
        assert [a.tier for a in response.attempts] == ["S", "M"], response
        assert response.tier == "M" and response.decision == pb.DECISION_ACCEPTED
    # Two scrapes after the last request: every counter has the samples rate() needs.
    assert await observed.until("count_over_time(codecascade_requests_total[1m]) > 2")
    await asyncio.sleep(2.5)
    return observed


async def test_exemplars_lead_from_escalations_and_latency_to_the_traces(traffic: Observed) -> None:
    async with httpx.AsyncClient(timeout=10.0) as client:
        metrics = await client.get(
            f"http://127.0.0.1:{traffic.router.env['METRICS_PORT']}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"},
        )
        assert metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert any(
            line.startswith("codecascade_escalations_total{") and '# {trace_id="' in line
            for line in metrics.text.splitlines()
        )
        for series in (
            "codecascade_escalations_total",
            "codecascade_tier_duration_seconds_bucket",
            "codecascade_accepted_score_bucket",
            "codecascade_rpc_server_duration_seconds_bucket",
            "codecascade_sandbox_job_duration_seconds_bucket",
        ):
            reply = await client.get(
                f"{traffic.prometheus.url}/api/v1/query_exemplars",
                params={"query": series, "start": time.time() - 600, "end": time.time() + 60},
            )
            found = {
                exemplar["labels"]["trace_id"]
                for group in reply.json()["data"]
                for exemplar in group["exemplars"]
            }
            assert found & set(traffic.trace_ids), f"{series}: exemplars {found}"


async def test_every_dashboard_query_returns_series_with_its_labels(traffic: Observed) -> None:
    queries = dashboard_queries()
    assert queries
    for query in queries:
        result = await traffic.query(query.promql(RATE_INTERVAL))
        assert result, f"{query.panel}: {query.expr} returned nothing"
        for series in result:
            missing = query.labels - set(series["metric"])
            assert not missing, f"{query.panel}: {series['metric']} lacks {missing}"


async def test_every_rule_evaluates_and_each_recording_returns_its_series(
    traffic: Observed,
) -> None:
    expected = {
        "codecascade:tier_attempts:rate5m": {"tier"},
        "codecascade:tier_failure_ratio:rate5m": {"tier"},
        "codecascade:escalation_ratio:rate15m": {"from_tier"},
        "codecascade:escalation_ratio:rate6h": {"from_tier"},
        "codecascade:sandbox_crash_ratio:rate10m": set(),
        "codecascade:budget_used:ratio": {"owner", "scope"},
    }
    found = rules()
    assert {r.name for r in found if not r.alert} == set(expected)
    for rule in found:
        result = await traffic.query(rule.expr)  # alerts: must evaluate, need not hold
        if not rule.alert:
            assert result, f"{rule.name} returned nothing"
            assert all(expected[rule.name] <= set(s["metric"]) for s in result), result
            recorded = await traffic.until(rule.name)  # and Prometheus records it
            assert recorded, f"{rule.name} not recorded"
    attempts = await traffic.query("codecascade:tier_attempts:rate5m")
    assert {s["metric"]["tier"] for s in attempts} == {"S", "M"}


async def test_a_spent_budget_fires_its_alert(traffic: Observed) -> None:
    alert = await traffic.firing(
        "CodecascadeBudgetNearlyExhausted", owner="acme", scope="tenant_period"
    )
    assert float(alert["value"]) == pytest.approx(1.0)
    assert "acme" in alert["annotations"]["summary"]
    names = {a["labels"]["alertname"] for a in await traffic.alerts()}
    assert "CodecascadeTierNoReadyReplicas" not in names  # every tier is up so far


async def test_sandboxes_killed_by_solutions_fire_the_crash_alert(traffic: Observed) -> None:
    crashed = await traffic.query('sum(codecascade_sandbox_test_outcomes_total{outcome="crashed"})')
    assert float(crashed[0]["value"][1]) >= 4  # S's two solutions x two tests
    alert = await traffic.firing("CodecascadeSandboxCrashing")
    assert float(alert["value"]) > 0.05


async def test_a_tier_stopped_while_traffic_arrives_fires_the_tier_alerts(
    traffic: Observed,
) -> None:
    await traffic.tiers["M"].stop()
    # More failing calls to M than the five it answered: its failure share passes one half.
    for _ in range(8):  # M's calls fail now; S's best answer is returned instead
        response = await traffic.generate("open")
        assert [a.tier for a in response.attempts] == ["S", "M"]
        assert response.tier == "S"
    down = await traffic.firing("CodecascadeTierNoReadyReplicas", tier="M")
    assert down["annotations"]["summary"].startswith("Tier M has no ready replica")
    await traffic.firing("CodecascadeTierFailing", tier="M")
    names = {(a["labels"]["alertname"], a["labels"].get("tier")) for a in await traffic.alerts()}
    assert ("CodecascadeTierNoReadyReplicas", "S") not in names
