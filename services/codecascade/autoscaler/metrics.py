"""The autoscaler's instruments: what it decided per tier, from each poll's `Decision`.

A dashboard puts these beside the tier's real replicas (kube-state-metrics) and the router's
series they were computed from, so a scale-up can be read back: forecast arrivals (and the
leading indicator's share), forecast work, the stabilised replica count, and activation.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from codecascade.autoscaler.control import Decision

__all__ = ["AutoscalerMetrics"]


@dataclass(frozen=True, slots=True)
class AutoscalerMetrics:
    """Registered on the service's registry; `observe` is the loop's `DecisionObserver`."""

    replicas: Gauge
    forecast_rate: Gauge
    lead_rate: Gauge
    forecast_work: Gauge
    active: Gauge
    polls: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AutoscalerMetrics:
        return cls(
            replicas=Gauge(
                "codecascade_autoscaler_desired_replicas",
                "Replicas the autoscaler recommends per tier (clamped and stabilised).",
                ["tier"],
                registry=registry,
            ),
            forecast_rate=Gauge(
                "codecascade_autoscaler_forecast_arrivals",
                "Forecast arrivals per second into a tier (max of measured and leading).",
                ["tier"],
                registry=registry,
            ),
            lead_rate=Gauge(
                "codecascade_autoscaler_leading_arrivals",
                "The leading indicator: in-flight(i-1) x p(escalate) / latency(i-1), per second.",
                ["tier"],
                registry=registry,
            ),
            forecast_work=Gauge(
                "codecascade_autoscaler_forecast_work",
                "Forecast work per tier in replica-seconds per second.",
                ["tier"],
                registry=registry,
            ),
            active=Gauge(
                "codecascade_autoscaler_active",
                "1 when the tier should be above zero replicas (KEDA's IsActive), else 0.",
                ["tier"],
                registry=registry,
            ),
            polls=Counter(
                "codecascade_autoscaler_polls",
                "Decisions made (one per poll that read the signals).",
                registry=registry,
            ),
        )

    def observe(self, decision: Decision) -> None:
        self.polls.inc()
        for tier, recommendation in decision.tiers.items():
            forecast = recommendation.forecast
            self.replicas.labels(tier).set(recommendation.replicas)
            self.forecast_rate.labels(tier).set(forecast.arrival_rate)
            self.lead_rate.labels(tier).set(forecast.lead_rate)
            self.forecast_work.labels(tier).set(forecast.work)
            self.active.labels(tier).set(1 if recommendation.active else 0)
