"""The router's instruments (DESIGN §5), recorded from the cascade's events.

`RouterMetrics.observe` is an observer the cascade is built with: escalations, answers by tier,
tokens, cost and time per tier are counted from the events the cascade emits, never from inside
its decision code. Escalations, tier latency and accepted scores carry the request's trace id as
an OpenMetrics exemplar, so a spike on a dashboard leads to a trace that shows why. The chart's
dashboard and alert rules (charts/codecascade/dashboards, rules) read exactly these series.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from codecascade.mesh.metrics import trace_exemplar
from codecascade.router.events import (
    Answered,
    CascadeEvent,
    Decision,
    EscalatedEvent,
    TierAborted,
    TierFinished,
    TierStartedEvent,
)
from codecascade.tenancy.ledger import Balance, to_usd
from codecascade.tenancy.tenants import Caller

__all__ = [
    "PREDECLARED_ESCALATION_REASONS",
    "PREDECLARED_REASONS",
    "RouterMetrics",
    "TenantMetrics",
]


# Attempt reason codes whose series exist from the start for every configured tier: the ones
# the tier alerts divide by (docs/dashboards.md); the others appear with their first attempt.
PREDECLARED_REASONS = ("accepted", "tier_unavailable", "tier_timeout", "tier_error")
# Escalation reason codes whose series exist from the start for every ordered pair of configured
# tiers: a series born with its first escalation shows no increase to rate()/increase() until a
# second one, so the autoscaler (and the escalation panels) would miss the first escalations.
PREDECLARED_ESCALATION_REASONS = (
    "below_threshold",
    "nothing_passed",
    "no_tests",
    "tier_unavailable",
    "tier_timeout",
    "tier_error",
)


@dataclass(frozen=True, slots=True)
class RouterMetrics:
    escalations: Counter
    requests: Counter
    cost: Counter
    tokens: Counter
    tier_seconds: Histogram
    attempts: Counter
    accepted_score: Histogram
    # The autoscaler's signals (docs/autoscaler.md): requests entering each tier, and inside it now.
    tier_arrivals: Counter
    tier_in_flight: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry, tiers: Sequence[str] = ()) -> RouterMetrics:
        """The instruments, with the series of each of `tiers` (the configured tier names)
        created at zero: Prometheus' rate() sees no increase in a series' first sample, so a
        tier whose first calls all fail within one scrape would otherwise show no failures."""
        metrics = cls(
            escalations=Counter(
                "codecascade_escalations",
                "Requests passed from one tier to the next, by reason code.",
                ["from_tier", "to_tier", "reason"],
                registry=registry,
            ),
            requests=Counter(
                "codecascade_requests",
                "Requests answered, by the tier that answered and its decision.",
                ["final_tier", "decision"],
                registry=registry,
            ),
            cost=Counter(
                "codecascade_cost_usd",
                "Dollars spent on generated tokens, by tier (configured price x tokens).",
                ["tier"],
                registry=registry,
            ),
            tokens=Counter(
                "gen_ai_client_token_usage",
                "Tokens used by tier calls (gen_ai.client.token.usage), by tier and token type.",
                ["tier", "token_type"],
                registry=registry,
            ),
            tier_seconds=Histogram(
                "codecascade_tier_duration_seconds",
                "Time spent in one tier of a request (generation, tests, sandbox), by decision.",
                ["tier", "decision"],
                registry=registry,
                buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320),
            ),
            # Every tier call, by how it ended (the attempt's reason code: accepted,
            # below_threshold, tier_unavailable, ...): the traffic a tier receives, and the
            # tier-down alert's evidence that the router is sending to a tier that does not answer.
            attempts=Counter(
                "codecascade_tier_attempts",
                "Tier attempts finished, by tier and reason code (accepted, tier_unavailable, ...)",
                ["tier", "reason"],
                registry=registry,
            ),
            # Where accepted answers sit above θ: mass piling up just over the threshold means
            # the policy accepts on thin agreement (docs/dashboards.md).
            accepted_score=Histogram(
                "codecascade_accepted_score",
                "Agreement score of tier attempts accepted at or above their threshold, by tier.",
                ["tier"],
                registry=registry,
                buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
            ),
            tier_arrivals=Counter(
                "codecascade_tier_arrivals",
                "Requests that entered a tier (the first tier's: the request rate; a later "
                "tier's: the escalations into it), by tier.",
                ["tier"],
                registry=registry,
            ),
            tier_in_flight=Gauge(
                "codecascade_tier_in_flight",
                "Requests inside a tier now (started, not yet finished), by tier: with the "
                "escalation rate, the autoscaler's leading indicator for the next tier.",
                ["tier"],
                registry=registry,
            ),
        )
        for tier in tiers:
            metrics.tier_arrivals.labels(tier)
            metrics.tier_in_flight.labels(tier)
            for reason in PREDECLARED_REASONS:
                metrics.attempts.labels(tier, reason)
        for lower, higher in itertools.combinations(tiers, 2):
            for reason in PREDECLARED_ESCALATION_REASONS:
                metrics.escalations.labels(lower, higher, reason)
        return metrics

    async def observe(self, event: CascadeEvent) -> None:
        """Records one cascade event (an `Observer`); the request's span is the current one."""
        self.record(event)

    def record(self, event: CascadeEvent) -> None:
        """Counts what `event` says; events that change no series are ignored."""
        if isinstance(event, TierStartedEvent):
            self.tier_arrivals.labels(event.tier).inc()
            self.tier_in_flight.labels(event.tier).inc()
        elif isinstance(event, TierAborted):
            self.tier_in_flight.labels(event.tier).dec()
        elif isinstance(event, EscalatedEvent):
            self.escalations.labels(event.from_tier, event.to_tier, event.reason_code).inc(
                exemplar=trace_exemplar()
            )
        elif isinstance(event, TierFinished):
            attempt = event.attempt
            self.tier_in_flight.labels(attempt.tier).dec()
            usage = attempt.usage
            self.cost.labels(attempt.tier).inc(usage.cost_usd)
            self.tokens.labels(attempt.tier, "input").inc(usage.prompt_tokens)
            self.tokens.labels(attempt.tier, "output").inc(usage.completion_tokens)
            exemplar = trace_exemplar()
            self.tier_seconds.labels(attempt.tier, attempt.decision.name.lower()).observe(
                attempt.elapsed_s, exemplar=exemplar
            )
            self.attempts.labels(attempt.tier, attempt.reason_code or "none").inc()
            if attempt.decision is Decision.ACCEPTED:
                self.accepted_score.labels(attempt.tier).observe(attempt.score, exemplar=exemplar)
        elif isinstance(event, Answered):
            result = event.result
            self.requests.labels(result.tier, result.decision.name.lower()).inc()


@dataclass(frozen=True, slots=True)
class TenantMetrics:
    """Per-tenant series, recorded by the public edge (the servicer) once per request.

    `tenant` is the id the key named (bounded by the tenants file); a call that did not
    authenticate counts under "unauthenticated". With auth off it is the caller's x-tenant-id.
    """

    requests: Counter
    cost: Counter
    budget_spent: Gauge
    budget_limit: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> TenantMetrics:
        return cls(
            requests=Counter(
                "codecascade_tenant_requests",
                "Requests at the public edge, by tenant and outcome (ok, or the error kind).",
                ["tenant", "outcome"],
                registry=registry,
            ),
            cost=Counter(
                "codecascade_tenant_cost_usd",
                "Dollars of generated tokens charged to a tenant's requests that were answered.",
                ["tenant"],
                registry=registry,
            ),
            # The ledger's balances as of the owner's last request (a store read after each
            # request of a budgeted tenant; nothing polls the store). `owner` is the tenant or
            # the organisation, `scope` the account (tenant_period, organisation_lifetime, ...).
            budget_spent=Gauge(
                "codecascade_budget_spent_usd",
                "Dollars spent plus reserved in flight on a budget, as of its last request.",
                ["owner", "scope"],
                registry=registry,
            ),
            budget_limit=Gauge(
                "codecascade_budget_limit_usd",
                "The budget's limit in dollars (accounts with a limit only).",
                ["owner", "scope"],
                registry=registry,
            ),
        )

    def record(self, tenant: str, outcome: str, cost_usd: float = 0.0) -> None:
        self.requests.labels(tenant, outcome).inc()
        if cost_usd:
            self.cost.labels(tenant).inc(cost_usd)

    def record_balances(self, caller: Caller, balances: Sequence[Balance]) -> None:
        """Sets the budget gauges of `caller`'s limited accounts (unlimited ones have no series:
        a ratio to infinity alerts on nothing)."""
        for balance in balances:
            account = balance.account
            if balance.remaining is None:
                continue
            organisation = caller.organisation
            owner = (
                organisation.id
                if account.scope.startswith("organisation") and organisation is not None
                else caller.tenant.id
            )
            self.budget_spent.labels(owner, account.scope).set(
                to_usd(balance.spent + balance.reserved)
            )
            self.budget_limit.labels(owner, account.scope).set(to_usd(account.limit))
