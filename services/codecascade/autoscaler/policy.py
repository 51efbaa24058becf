"""How many replicas each tier needs: the forecast, the clamp and the stabilisation window.

Pure arithmetic, no I/O and no clock: the service feeds it signals read from Prometheus or the
routers' `/metrics` (`autoscaler.signals`), and `benchmarks/autoscaler.py` feeds it a simulated
trace with simulated time. Both therefore run the very same policy.

Units. A tier's *work* is replica-seconds per second: arrivals per second times the seconds one
arrival occupies a replica slot. One replica serves `capacity` such slots at once (1.0 for an
engine that runs one sequence at a time, its parallel slots for a batching engine), and is kept at
`target_utilisation` of that, so

    desired = ceil(forecast work / (capacity x target_utilisation)), clamped to [min, max].

The leading indicator. A cascade's tier i only sees what tier i-1 could not answer. The requests in
tier i-1 now, times the probability that tier i-1 escalates, divided by how long tier i-1 takes, is
the arrival rate tier i will see one tier-i-1 latency from now (Little's law: in-flight = rate x
latency). The forecast arrival rate is the larger of the rate measured now and that prediction, not
their sum: in steady state the two are the same stream (what arrives at tier i now is what was in
tier i-1 a latency ago), so a sum would count every request twice; the maximum follows a rise one
tier latency early and follows the measured rate once the prediction falls (the upstream drained).

The tier's own backlog. Rates are measured over a window; a large tier's requests can last longer
than that window, and a rate that has decayed says nothing about the requests still being served.
So the forecast work is never below the requests in the tier (each occupies a slot):
work = max(forecast arrivals x work per arrival, in-flight(i)).

Averaged gauges. Both in-flight gauges (tier i-1's for the lead, tier i's for the floor) are
sized on their mean over the rate window (PromQL `avg_over_time`), like the rates beside them. A
gauge read at its value at each poll is a small, Poisson-noisy integer, and the stabiliser keeps
the largest recommendation of its window (60 polls at the defaults): the noise itself became
replicas (benchmarks/autoscaler.py: tier L at 55 % of always-on's replica-seconds with the value
at the poll, 38 % with the mean). The value at the poll (`*_now`) is still read, for activation
only, so that a tier leaves zero at the first request in the tier below even with a non-zero
`activation_threshold`, instead of once the mean has risen.

Activation. A tier is active (KEDA's IsActive; scale 0 -> 1) as soon as the forecast arrival rate
(on the averaged or the current gauge, whichever is larger) exceeds `activation_threshold`
(default 0: the first forecast escalation), or it has requests in it, and stays active while
the stabilised recommendation is at least one replica, so it goes back to zero only after a whole
stabilisation window without forecast work.

Stabilisation. Up at once, down only after a window (Kubernetes' HPA rule): the recommendation
applied is the largest desired value seen over the last `stabilisation_window_s`. `Stabiliser`
keeps that short history and takes the time as an argument, so a simulator drives it with
simulated time and a restarted (or second) autoscaler replica can be seeded with the history
recomputed from the signal store (`Stabiliser.seed`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "Forecast",
    "Recommendation",
    "Stabiliser",
    "TierScaler",
    "TierScaling",
    "TierSignals",
    "desired_replicas",
    "escalation_probability",
    "forecast",
]


@dataclass(frozen=True, slots=True)
class TierScaling:
    """One tier's scaling constants (the service's settings, merged with per-tier overrides).

    `capacity` is in concurrent work slots per replica (replica-seconds of work per second);
    `latency_s` is the tier's expected time per request, used while nothing was measured yet
    (work per arrival at this tier, and the leading indicator's latency when this tier is the
    upstream of the next one). `leading_indicator=False` is the baseline the benchmark compares
    against: the same rule on the measured arrival rate alone.
    """

    capacity: float = 1.0
    target_utilisation: float = 0.7
    latency_s: float = 10.0
    min_replicas: int = 0
    max_replicas: int = 4
    stabilisation_window_s: float = 300.0
    activation_threshold: float = 0.0
    leading_indicator: bool = True

    def __post_init__(self) -> None:
        if self.capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {self.capacity}")
        if not 0 < self.target_utilisation <= 1:
            raise ValueError(f"target_utilisation must be in (0, 1], got {self.target_utilisation}")
        if self.latency_s <= 0:
            raise ValueError(f"latency_s must be > 0, got {self.latency_s}")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"need 0 <= min_replicas <= max_replicas, got {self.min_replicas}, "
                f"{self.max_replicas}"
            )
        if self.stabilisation_window_s < 0:
            raise ValueError(
                f"stabilisation_window_s must be >= 0, got {self.stabilisation_window_s}"
            )
        if self.activation_threshold < 0:
            raise ValueError(f"activation_threshold must be >= 0, got {self.activation_threshold}")

    @property
    def replica_target(self) -> float:
        """Work one replica is given at the target utilisation (KEDA's target size)."""
        return self.capacity * self.target_utilisation


@dataclass(frozen=True, slots=True)
class TierSignals:
    """What is known about tier i at one moment (rates are per second).

    For the first tier `upstream_in_flight` and `escalation_probability` are 0 (nothing is
    upstream of it) and `arrival_rate` is the router's request rate; for a later tier,
    `arrival_rate` is the escalation rate into it and the upstream fields describe tier i-1.
    `upstream_in_flight` and `in_flight` are the gauges' means over the rate window (they size
    the tier); `upstream_in_flight_now` and `in_flight_now` their values at the poll (they only
    activate it; 0 when unknown: the means alone then decide).
    """

    arrival_rate: float
    work_per_arrival_s: float
    upstream_in_flight: float = 0.0
    escalation_probability: float = 0.0
    upstream_latency_s: float = 1.0
    # Requests inside tier i itself (its backlog: busy slots the rate may no longer show).
    in_flight: float = 0.0
    upstream_in_flight_now: float = 0.0
    in_flight_now: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "arrival_rate",
            "work_per_arrival_s",
            "upstream_in_flight",
            "in_flight",
            "upstream_in_flight_now",
            "in_flight_now",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.escalation_probability <= 1:
            raise ValueError(
                f"escalation_probability must be in [0, 1], got {self.escalation_probability}"
            )
        if self.upstream_latency_s <= 0:
            raise ValueError(f"upstream_latency_s must be > 0, got {self.upstream_latency_s}")


@dataclass(frozen=True, slots=True)
class Forecast:
    """The rule's answer for one tier at one moment, before stabilisation.

    `lead_rate` is the leading indicator's arrival rate (0 when it is off), `arrival_rate` the
    forecast (max of measured and lead), `work` the forecast replica-seconds per second,
    `desired` the clamped replica count and `active` whether the tier should leave zero.
    """

    arrival_rate: float
    lead_rate: float
    work: float
    desired: int
    active: bool


def escalation_probability(
    escalations: float, finished: float, *, prior: float, prior_weight: float = 1.0
) -> float:
    """P(tier i-1 escalates to tier i) from counts (or rates) over a recent window.

    A Beta prior of `prior_weight` pseudo-requests at `prior` smooths the estimate, so a tier
    with no recent finishes still has a usable probability (the leading indicator can fire on
    the very first requests of the day) and one escalation out of one finish is not taken as
    certainty. With `prior_weight=0` and no finishes it returns `prior`.
    """
    if escalations < 0 or finished < 0:
        raise ValueError(f"counts must be >= 0, got {escalations}, {finished}")
    if not 0 <= prior <= 1:
        raise ValueError(f"prior must be in [0, 1], got {prior}")
    total = finished + prior_weight
    if total <= 0:
        return prior
    return min(1.0, max(0.0, (min(escalations, finished) + prior * prior_weight) / total))


def desired_replicas(work: float, scaling: TierScaling, *, active: bool) -> int:
    """ceil(work / (capacity x target utilisation)), at least one replica when active, clamped
    to [min_replicas, max_replicas]; an inactive tier asks for min_replicas (zero by default)."""
    if not active:
        return scaling.min_replicas
    # A hair of tolerance so that work exactly at a multiple of the target does not round up
    # on floating-point noise (3 x 0.7 / 0.7 = 3.0000000000000004).
    needed = math.ceil(work / scaling.replica_target - 1e-9)
    return min(scaling.max_replicas, max(scaling.min_replicas, 1, needed))


def forecast(signals: TierSignals, scaling: TierScaling) -> Forecast:
    """The forecast for one tier: arrivals now or one upstream latency from now, whichever is
    larger, times the work per arrival, and never less than the requests in the tier (see the
    module docstring), turned into replicas. Sized on the averaged gauges; activated on the
    averaged or the current ones, whichever is larger, so activation never waits for a mean."""
    lead = lead_now = 0.0
    if scaling.leading_indicator:
        per_request = signals.escalation_probability / signals.upstream_latency_s
        lead = signals.upstream_in_flight * per_request
        lead_now = signals.upstream_in_flight_now * per_request
    rate = max(signals.arrival_rate, lead)
    work = max(rate * signals.work_per_arrival_s, signals.in_flight)
    active = (
        max(rate, lead_now) > scaling.activation_threshold
        or max(signals.in_flight, signals.in_flight_now) > 0
    )
    return Forecast(
        arrival_rate=rate,
        lead_rate=lead,
        work=work,
        desired=desired_replicas(work, scaling, active=active),
        active=active,
    )


class Stabiliser:
    """Scale up at once, down only after `window_s`: the recommendation is the largest desired
    count offered over the last `window_s` seconds (inclusive), as the HPA's scale-down window.

    Time is whatever the caller says (monotonic seconds in the service, simulated seconds in the
    benchmark); it must not go backwards. One instance per tier.
    """

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        self.window_s = window_s
        self._history: deque[tuple[float, int]] = deque()

    def seed(self, samples: Iterable[tuple[float, int]]) -> None:
        """Adds past (time, desired) samples, oldest first: the history a restarted replica
        recomputes from the signal store so it agrees with one that never stopped."""
        for now, desired in samples:
            self._add(now, desired)

    def update(self, now: float, desired: int) -> int:
        """Records `desired` at `now` and returns the stabilised recommendation."""
        self._add(now, desired)
        return self.current(now)

    def current(self, now: float) -> int:
        """The recommendation at `now` without a new sample (0 with no history)."""
        horizon = now - self.window_s
        while self._history and self._history[0][0] < horizon:
            self._history.popleft()
        return max((d for _, d in self._history), default=0)

    def _add(self, now: float, desired: int) -> None:
        if self._history and now < self._history[-1][0]:
            raise ValueError(f"time went backwards: {now} < {self._history[-1][0]}")
        # Keep the history short: a sample dominated by a later, larger-or-equal one can never
        # be the maximum again (it leaves the window first).
        while self._history and self._history[-1][1] <= desired:
            self._history.pop()
        self._history.append((now, desired))


@dataclass(frozen=True, slots=True)
class Recommendation:
    """What one step of `TierScaler` decided: the raw forecast and the stabilised replicas."""

    forecast: Forecast
    replicas: int

    @property
    def active(self) -> bool:
        """Whether the tier should be above zero (KEDA's IsActive): work is forecast now, or
        the stabilisation window still holds a replica from earlier work."""
        return self.forecast.active or self.replicas > 0


class TierScaler:
    """`forecast` plus a `Stabiliser` for one tier: feed it (time, signals) once per poll."""

    def __init__(self, scaling: TierScaling) -> None:
        self.scaling = scaling
        self.stabiliser = Stabiliser(scaling.stabilisation_window_s)

    def step(self, now: float, signals: TierSignals) -> Recommendation:
        """The recommendation at `now` for these signals (records them in the window)."""
        raw = forecast(signals, self.scaling)
        return Recommendation(raw, self.stabiliser.update(now, raw.desired))
