from __future__ import annotations

import itertools

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest

from codecascade.core.errors import Unavailable
from codecascade.core.task import make_problem
from codecascade.core.usage import Usage
from codecascade.router.cascade import Cascade
from codecascade.router.events import Decision, EscalatedEvent, MatrixScored
from codecascade.router.metrics import RouterMetrics
from codecascade.router.policy import CascadePolicy, PolicyError, RequestOverrides, TierPolicy
from codecascade.router.ports import AssertSet, Candidates, Execution
from codecascade.tierclient.errors import TierUnavailable

PROBLEM = make_problem("def f(x):\n    '''Identity.'''\n")
T, F = True, False


class Scripted:
    """All three ports: solutions, tests and matrices per tier; an Exception is raised instead."""

    def __init__(self, solutions, tests, matrices) -> None:
        self.solutions, self.tests, self.matrices = solutions, tests, matrices
        self.timeouts: list[float] = []

    async def write_solutions(self, tier, problem, *, seed, timeout_s):
        self.timeouts.append(timeout_s)
        value = self.solutions[tier.tier]
        if isinstance(value, Exception):
            raise value
        codes = tuple(f"# {tier.tier} {i}\n{value}" for i in range(max(tier.k, 1)))
        return Candidates(codes, Usage(10, 100, 0.001 * (1 + len(tier.tier))), 0.5)

    async def write_tests(self, tier, problem, *, seed, timeout_s):
        value = self.tests.get(tier.tier, ("assert f(1) == 1", "assert f(2) == 2"))
        if isinstance(value, Exception):
            raise value
        return AssertSet(value, Usage(5, 20, 0.0001), 0.4)

    async def run_matrix(self, problem, solutions, tests, *, timeout_s):
        tier = solutions[0].split()[1]
        return Execution(tuple(tuple(row) for row in self.matrices[tier]), 0.2)


def _policy(*tiers: TierPolicy, **limits) -> CascadePolicy:
    return CascadePolicy(tiers=tiers, **({"limits": limits} if limits else {}))


def _cascade(policy, scripted, **kwargs) -> Cascade:
    return Cascade(policy, scripted, scripted, scripted, **kwargs)


S = TierPolicy(tier="S", k=2, test_lines=2, threshold=0.9)
M = TierPolicy(tier="M", k=2, test_lines=2, threshold=0.9)


async def test_accepts_at_the_first_tier_when_tests_agree() -> None:
    scripted = Scripted({"S": "ok", "M": "ok"}, {}, {"S": [[T, T], [T, T]]})
    result = await _cascade(_policy(S, M), scripted).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert (result.tier, result.decision, result.score) == ("S", Decision.ACCEPTED, 1.0)
    assert len(result.attempts) == 1 and result.code.startswith("# S 0")


async def test_escalates_below_threshold_and_records_everything() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    events = []

    async def observe(event) -> None:
        events.append(event)

    scripted = Scripted({"S": "meh", "M": "ok"}, {}, {"S": [[T, F], [F, F]], "M": [[T, T], [T, T]]})
    cascade = _cascade(
        _policy(S, M),
        scripted,
        observers=(RouterMetrics.create(registry).observe,),
        tracer_provider=provider,
    )
    result = await cascade.run(PROBLEM, RequestOverrides(), seed=1, deadline_s=30, observer=observe)
    assert (result.tier, result.decision) == ("M", Decision.ACCEPTED)
    assert result.code.startswith("# M 0")
    assert [a.decision for a in result.attempts] == [Decision.ESCALATED, Decision.ACCEPTED]
    assert result.attempts[0].reason == "score 0.25 < threshold 0.90"
    assert result.usage.cost_usd == pytest.approx(0.002 + 0.002 + 0.0002)
    escalation = next(e for e in events if isinstance(e, EscalatedEvent))
    assert (escalation.from_tier, escalation.to_tier) == ("S", "M")
    assert sum(isinstance(e, MatrixScored) for e in events) == 2
    labels = {"from_tier": "S", "to_tier": "M", "reason": "below_threshold"}
    assert registry.get_sample_value("codecascade_escalations_total", labels) == 1
    assert (
        registry.get_sample_value(
            "codecascade_requests_total", {"final_tier": "M", "decision": "accepted"}
        )
        == 1
    )
    assert registry.get_sample_value("codecascade_cost_usd_total", {"tier": "S"}) > 0
    attempts = {"tier": "S", "reason": "below_threshold"}
    assert registry.get_sample_value("codecascade_tier_attempts_total", attempts) == 1
    accepted = {"tier": "M", "le": "1.0"}
    assert registry.get_sample_value("codecascade_accepted_score_bucket", accepted) == 1
    assert registry.get_sample_value("codecascade_accepted_score_count", {"tier": "S"}) is None
    spans = {s.name: s for s in exporter.get_finished_spans()}
    workflow = spans["invoke_workflow codecascade"]
    assert [e.name for e in workflow.events] == ["codecascade.escalation"]
    event = dict(workflow.events[0].attributes or {})
    assert event["codecascade.escalation.from_tier"] == "S"
    assert event["codecascade.escalation.to_tier"] == "M"
    assert event["codecascade.escalation.reason_code"] == "below_threshold"
    assert event["codecascade.escalation.score"] < event["codecascade.escalation.threshold"]
    assert str(event["codecascade.escalation.reason"]).startswith("score ")
    tier_s, tier_m = spans["codecascade.tier S"], spans["codecascade.tier M"]
    costs = [dict(s.attributes or {})["codecascade.cost_usd"] for s in (tier_s, tier_m)]
    assert sum(costs) == pytest.approx(result.usage.cost_usd) and all(c > 0 for c in costs)
    assert dict(tier_s.attributes or {})["gen_ai.usage.output_tokens"] > 0
    assert tier_m.links[0].context.span_id == spans["codecascade.tier S"].context.span_id
    assert "execute_tool run_tests" in spans
    assert result.trace_id == format(workflow.context.trace_id, "032x")
    # The escalation and each tier's latency point at this request's trace (OpenMetrics exemplar).
    exposition = generate_latest(registry).decode()
    exemplar = f'# {{trace_id="{result.trace_id}"}}'
    escalation_line = next(
        line
        for line in exposition.splitlines()
        if line.startswith("codecascade_escalations_total{")
    )
    assert exemplar in escalation_line
    latency_lines = [
        line
        for line in exposition.splitlines()
        if line.startswith("codecascade_tier_duration_seconds_bucket{") and exemplar in line
    ]
    assert {'tier="S"' in line for line in latency_lines} == {True, False}  # S and M


async def test_nothing_passing_escalates_and_the_last_tier_answers_anyway() -> None:
    scripted = Scripted(
        {"S": "bad", "M": "meh"}, {}, {"S": [[F, F], [F, F]], "M": [[F, F], [F, T]]}
    )
    result = await _cascade(_policy(S, M), scripted).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert result.attempts[0].reason_code == "nothing_passed"
    assert (result.tier, result.decision) == ("M", Decision.FINAL)
    assert result.code.startswith("# M 1")


async def test_a_down_tier_is_skipped_and_the_next_answers() -> None:
    scripted = Scripted(
        {"S": TierUnavailable("connection refused"), "M": "ok"}, {}, {"M": [[T, T], [T, T]]}
    )
    result = await _cascade(_policy(S, M), scripted).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert result.attempts[0].decision is Decision.SKIPPED
    assert "connection refused" in result.attempts[0].reason
    assert (result.tier, result.decision) == ("M", Decision.ACCEPTED)


async def test_last_tier_down_returns_the_best_earlier_answer() -> None:
    scripted = Scripted({"S": "meh", "M": TierUnavailable("gone")}, {}, {"S": [[T, F], [F, F]]})
    result = await _cascade(_policy(S, M), scripted).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert (result.tier, result.decision) == ("S", Decision.FINAL)
    assert "best earlier answer" in result.attempts[0].reason


async def test_all_tiers_down_is_unavailable_with_each_reason() -> None:
    scripted = Scripted({"S": TierUnavailable("a"), "M": TierUnavailable("b")}, {}, {})
    with pytest.raises(Unavailable, match="S: tier unavailable: a; M: tier unavailable: b"):
        await _cascade(_policy(S, M), scripted).run(
            PROBLEM, RequestOverrides(), seed=1, deadline_s=30
        )


async def test_failed_test_synthesis_means_no_tests_and_escalation() -> None:
    scripted = Scripted(
        {"S": "ok", "M": "ok"}, {"S": TierUnavailable("testsynth down")}, {"M": [[T, T], [T, T]]}
    )
    result = await _cascade(_policy(S, M), scripted).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert result.attempts[0].reason_code == "no_tests"
    assert result.tier == "M"


async def test_k_zero_is_one_untested_answer() -> None:
    greedy = TierPolicy(tier="M", k=0)
    scripted = Scripted({"S": "meh", "M": "ok"}, {}, {"S": [[F, F], [F, F]]})
    result = await _cascade(_policy(S, greedy), scripted).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert (result.tier, result.decision) == ("M", Decision.UNTESTED)
    assert result.attempts[-1].tests == ()


async def test_cost_cap_stops_escalation_and_deadlines_propagate() -> None:
    scripted = Scripted({"S": "meh", "M": "ok"}, {}, {"S": [[T, F], [F, F]]})
    result = await _cascade(_policy(S, M), scripted).run(
        PROBLEM, RequestOverrides(cost_cap_usd=0.0001), seed=1, deadline_s=30
    )
    assert (result.tier, result.decision) == ("S", Decision.FINAL)
    assert "cost cap" in result.attempts[0].reason
    assert all(t <= 30 for t in scripted.timeouts)


async def test_overrides_are_bounded_by_the_policy_limits() -> None:
    scripted = Scripted({"S": "ok", "M": "ok"}, {}, {"S": [[T, F], [F, F]]})
    cascade = _cascade(_policy(S, M, max_k=4), scripted)
    result = await cascade.run(
        PROBLEM, RequestOverrides(max_tier="S", threshold=0.1), seed=1, deadline_s=30
    )
    assert (result.tier, result.decision, result.threshold) == ("S", Decision.ACCEPTED, 0.1)
    for overrides in (
        RequestOverrides(max_tier="XL"),
        RequestOverrides(k=5),
        RequestOverrides(threshold=1.5),
        RequestOverrides(cost_cap_usd=100),
        RequestOverrides(deadline_s=10_000),
    ):
        with pytest.raises(PolicyError):
            await cascade.run(PROBLEM, overrides, seed=1, deadline_s=30)


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([{"tier": "S", "k": 0, "test_lines": 2}], "test_lines must be 0"),
        ([{"tier": "S", "k": 3}], "at least 1"),
        ([{"tier": "S", "k": 0}, {"tier": "M", "k": 3, "test_lines": 2}], "no tier may follow"),
        ([{"tier": "S", "k": 3, "test_lines": 2}, {"tier": "M", "k": 1, "test_lines": 2}], "k = 1"),
        ([{"tier": "S", "k": -1}], "every tier is skipped"),
        ([{"tier": "S", "k": 0}, {"tier": "S", "k": -1}], "listed 2 times"),
        ([{"tier": "S", "k": 2, "test_lines": 2, "theta": 1}], "theta"),
    ],
)
def test_policy_rules_are_checked_on_load(tiers, message) -> None:
    import yaml

    with pytest.raises(PolicyError, match=message):
        CascadePolicy.from_yaml(yaml.safe_dump({"tiers": tiers}))


def test_policy_round_trips_through_yaml() -> None:
    policy = _policy(S, M)
    assert CascadePolicy.from_yaml(policy.to_yaml()) == policy


async def test_the_callers_deadline_is_used_and_an_override_can_only_shorten_it() -> None:
    scripted = Scripted({"S": "ok", "M": "ok"}, {}, {"S": [[T, T], [T, T]]})
    cascade = _cascade(_policy(S, M), scripted)  # default_deadline_s 300, max 600
    await cascade.run(PROBLEM, RequestOverrides(), seed=1, deadline_s=500)
    assert max(scripted.timeouts) > 300
    await cascade.run(PROBLEM, RequestOverrides(deadline_s=20), seed=1, deadline_s=500)
    assert scripted.timeouts[-1] <= 20


def test_configured_tiers_have_their_alert_series_from_the_start() -> None:
    """rate() counts no increase in a series' first sample: a tier whose first calls all fail
    within one scrape must already have its failure series at zero (docs/dashboards.md)."""
    from codecascade.router.metrics import PREDECLARED_REASONS

    registry = CollectorRegistry()
    RouterMetrics.create(registry, ["S", "M"])
    for tier in ("S", "M"):
        for reason in PREDECLARED_REASONS:
            labels = {"tier": tier, "reason": reason}
            assert registry.get_sample_value("codecascade_tier_attempts_total", labels) == 0
        assert registry.get_sample_value("codecascade_tier_arrivals_total", {"tier": tier}) == 0


class ByStep(Scripted):
    """Matrices per (tier, number of solutions): a tier listed twice gets one per step."""

    async def run_matrix(self, problem, solutions, tests, *, timeout_s):
        tier = solutions[0].split()[1]
        return Execution(tuple(map(tuple, self.matrices[(tier, len(solutions))])), 0.2)


GREEDY_L = TierPolicy(tier="L", k=1, test_lines=0, carry_tests=True)
SAMPLED_L = TierPolicy(tier="L", k=2, test_lines=0, carry_tests=True)


@pytest.mark.parametrize(
    ("greedy_row", "tiers", "answer"),
    [([T, T], ("M", "L"), "# L 0"), ([T, F], ("M", "L", "L"), "# L 1")],
    ids=["greedy answer passes the carried asserts", "it fails one: L's samples"],
)
async def test_a_tier_listed_twice_answers_with_its_greedy_answer_when_the_carried_asserts_pass(
    greedy_row, tiers, answer
) -> None:
    matrices = {
        ("M", 1): [[F, F]],
        ("L", 1): [greedy_row],
        ("L", 2): [[F, T], [T, T]],
    }
    scripted = ByStep({"M": "m", "L": "l"}, {}, matrices)
    events = []

    async def observe(event) -> None:
        events.append(event)

    policy = _policy(TierPolicy(tier="M", k=1, test_lines=2), GREEDY_L, SAMPLED_L)
    result = await _cascade(policy, scripted).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30, observer=observe
    )
    assert tuple(a.tier for a in result.attempts) == tiers
    assert [a.k for a in result.attempts] == [1, 1, 2][: len(tiers)]
    # L's steps verify with M's asserts only (test_lines 0): no tests of their own were asked.
    assert all(a.tests == ("assert f(1) == 1", "assert f(2) == 2") for a in result.attempts)
    assert result.code.startswith(answer)
    escalations = [(e.from_tier, e.to_tier) for e in events if isinstance(e, EscalatedEvent)]
    assert escalations == list(itertools.pairwise(tiers))
