"""The router's instruments (DESIGN §5), recorded from the cascade's events.

`RouterMetrics.observe` is an observer the cascade is built with: escalations, answers by tier,
tokens, cost and time per tier are counted from the events the cascade emits, never from inside
its decision code. Escalations and tier latency carry the request's trace id as an OpenMetrics
exemplar, so a spike on a dashboard leads to a trace that shows why.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from codecascade.mesh.metrics import trace_exemplar
from codecascade.router.events import Answered, CascadeEvent, EscalatedEvent, TierFinished

__all__ = ["RouterMetrics", "TenantMetrics"]


@dataclass(frozen=True, slots=True)
class RouterMetrics:
    escalations: Counter
    requests: Counter
    cost: Counter
    tokens: Counter
    tier_seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> RouterMetrics:
        return cls(
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
        )

    async def observe(self, event: CascadeEvent) -> None:
        """Records one cascade event (an `Observer`); the request's span is the current one."""
        self.record(event)

    def record(self, event: CascadeEvent) -> None:
        """Counts what `event` says; events that change no series are ignored."""
        if isinstance(event, EscalatedEvent):
            self.escalations.labels(event.from_tier, event.to_tier, event.reason_code).inc(
                exemplar=trace_exemplar()
            )
        elif isinstance(event, TierFinished):
            attempt = event.attempt
            usage = attempt.usage
            self.cost.labels(attempt.tier).inc(usage.cost_usd)
            self.tokens.labels(attempt.tier, "input").inc(usage.prompt_tokens)
            self.tokens.labels(attempt.tier, "output").inc(usage.completion_tokens)
            self.tier_seconds.labels(attempt.tier, attempt.decision.name.lower()).observe(
                attempt.elapsed_s, exemplar=trace_exemplar()
            )
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
        )

    def record(self, tenant: str, outcome: str, cost_usd: float = 0.0) -> None:
        self.requests.labels(tenant, outcome).inc()
        if cost_usd:
            self.cost.labels(tenant).inc(cost_usd)
