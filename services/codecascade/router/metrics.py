"""The router's instruments: escalations, answers by tier, tokens and cost (DESIGN §5)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["RouterMetrics"]


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
