"""From the routers' series to the rule's inputs: one `Snapshot`, then `TierSignals` per tier.

The routers export, per tier (router/metrics.py): `codecascade_tier_arrivals_total` (a request
entered the tier), `codecascade_tier_in_flight` (requests in the tier now),
`codecascade_tier_duration_seconds` (its `_count` is requests that left the tier, its `_sum` the
seconds they spent there) and `codecascade_escalations_total{from_tier, to_tier}`. A signal
source (`autoscaler.sources`: the Prometheus HTTP API, or the routers' /metrics scraped directly)
reduces them to a `Snapshot`: increases over the rate window, and the in-flight gauges both
averaged over that window (they size a tier: a gauge's value at one poll is noise the
stabiliser would keep as replicas) and at their value now (they activate it at once), summed over
router replicas. `tier_signals` turns a snapshot into the rule's inputs; it is pure, so both
sources and the tests share it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from codecascade.autoscaler.policy import TierScaling, TierSignals, escalation_probability

__all__ = ["SERIES", "Snapshot", "tier_signals"]

# The router series the autoscaler reads (names as Prometheus stores them).
SERIES = {
    "arrivals": "codecascade_tier_arrivals_total",
    "in_flight": "codecascade_tier_in_flight",
    "in_flight_now": "codecascade_tier_in_flight",
    "finished": "codecascade_tier_duration_seconds_count",
    "busy_s": "codecascade_tier_duration_seconds_sum",
    "escalations": "codecascade_escalations_total",
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The routers' state at one moment: increases over the last `window_s` seconds, the
    in-flight gauges' means over it (`in_flight`) and their values now (`in_flight_now`), all
    summed over routers. A tier absent from a mapping had nothing (0)."""

    window_s: float
    arrivals: Mapping[str, float] = field(default_factory=dict)
    finished: Mapping[str, float] = field(default_factory=dict)
    busy_s: Mapping[str, float] = field(default_factory=dict)
    in_flight: Mapping[str, float] = field(default_factory=dict)
    in_flight_now: Mapping[str, float] = field(default_factory=dict)
    # (from_tier, to_tier) -> escalations
    escalations: Mapping[tuple[str, str], float] = field(default_factory=dict)


def _mean_seconds(snapshot: Snapshot, tier: str, default: float) -> float:
    finished = snapshot.finished.get(tier, 0.0)
    busy = snapshot.busy_s.get(tier, 0.0)
    return busy / finished if finished > 0 and busy > 0 else default


def tier_signals(
    snapshot: Snapshot,
    chain: Sequence[str],
    scaling: Callable[[str], TierScaling],
    *,
    prior: Callable[[str], float],
    prior_weight: float,
) -> dict[str, TierSignals]:
    """The rule's inputs for every tier of `chain` (cascade order) from one snapshot.

    Arrivals per second are the tier's arrivals over the window; the work per arrival is the mean
    time a request spent in the tier over the window (the tier's configured `latency_s` until one
    finished), the same measure gives the upstream latency. The escalation probability i-1 -> i is
    escalations over requests that left tier i-1 in the window, smoothed by the tier's prior.
    Counters reset by a router restart can make an increase negative for a moment; it is read as 0.
    """
    window = max(snapshot.window_s, 1e-9)
    signals: dict[str, TierSignals] = {}
    for index, tier in enumerate(chain):
        own = scaling(tier)
        arrival_rate = max(snapshot.arrivals.get(tier, 0.0), 0.0) / window
        work = _mean_seconds(snapshot, tier, own.latency_s)
        in_flight = max(snapshot.in_flight.get(tier, 0.0), 0.0)
        in_flight_now = max(snapshot.in_flight_now.get(tier, 0.0), 0.0)
        if index == 0:
            signals[tier] = TierSignals(
                arrival_rate=arrival_rate,
                work_per_arrival_s=work,
                in_flight=in_flight,
                in_flight_now=in_flight_now,
            )
            continue
        upstream = chain[index - 1]
        finished = max(snapshot.finished.get(upstream, 0.0), 0.0)
        escalated = max(snapshot.escalations.get((upstream, tier), 0.0), 0.0)
        signals[tier] = TierSignals(
            arrival_rate=arrival_rate,
            work_per_arrival_s=work,
            upstream_in_flight=max(snapshot.in_flight.get(upstream, 0.0), 0.0),
            escalation_probability=escalation_probability(
                escalated, finished, prior=prior(tier), prior_weight=prior_weight
            ),
            upstream_latency_s=_mean_seconds(snapshot, upstream, scaling(upstream).latency_s),
            in_flight=in_flight,
            upstream_in_flight_now=max(snapshot.in_flight_now.get(upstream, 0.0), 0.0),
            in_flight_now=in_flight_now,
        )
    return signals
