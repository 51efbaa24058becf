"""Autoscaling a cascade's tiers over a simulated day: five policies, one trace per seed.

A discrete-event simulation (a heap of timed events, simulated seconds). What is real in it:

- **Each request's path** through the tiers is a HumanEval problem of the committed headline
  cache (`benchmarks/results/eval-humaneval`) under the calibrated policy
  (`benchmarks/results/policy-humaneval.yaml`, M(k1 l2 θ0.8) -> L(k5 l2)): whether the problem
  escalates from M to L is what the grid (`OutcomeTable.per_problem`, the product's own
  `core.decision.stops`) says that policy does on it.
- **Service times** are that problem's measured wall seconds at each tier in the same cache
  (`TierOutcome.wall_s`: the answer calls plus the test generations at the lines used, on the
  2-core CPU that made the cache; M about 9 s, L about 39 s a request), and its sandbox seconds
  (`ExecutionRecord.sandbox_s`) between one tier and the next. A request holds one of its
  replica's `--concurrency` slots for its service time; the sandbox holds none.
- **Our policy** is the product's code, unchanged: the service's settings (`AutoscalerSettings`:
  its defaults, plus the chain, slots per replica, replica cap and each tier's expected seconds),
  the routers' series reduced to a `Snapshot` over its rate window as its signal sources reduce
  them (arrivals, requests that left each tier and their seconds there, the in-flight gauges
  averaged over the rate window as `avg_over_time` does and at their value now, escalations),
  `signals.tier_signals` and one `policy.TierScaler` per tier every `poll_interval_s`, applied
  directly (mode `direct`); with and without the leading indicator.

What is modelled: the arrivals (a diurnal curve, bursts, and a tenant whose tasks get harder over
the day: its share of problems that escalate rises from the cache's rate to `--hard-end`), cold
starts (a replica costs from the moment it is asked for, and serves `--cold-start-*` seconds
later), and the baselines' algorithms:

- always-on: each tier fixed all day at the replicas its peak 5-minute load needs at the target
  utilisation (sized with hindsight from the trace itself), warm from the start;
- HPA on utilisation (Kubernetes' algorithm): every 15 s, desired = ceil(current x utilisation /
  target), utilisation = busy slots over ready slots averaged over the last sync period (running
  requests over the engine's slots: kinder to the HPA than a GPU's utilisation, which an LLM
  engine keeps high whatever its load), target 0.7, 10 % tolerance, starting pods counted at 0 %
  when scaling up, at most max(2x, +4) pods per step up, down only to the largest recommendation
  of the last 300 s, min 1;
- KEDA on queue length, as vLLM production-stack's chart configures it by default (trigger
  `vllm:num_requests_waiting`, threshold 5; KEDA's defaults pollingInterval 30 s, cooldownPeriod
  300 s, minReplicaCount 0): KEDA activates 0 -> 1 at a poll that sees a queue and deactivates
  after the cooldown, its HPA sets ceil(queue / 5) every 15 s with the HPA's rules above. Its
  queue counts requests the router holds for a tier with no replica, which the real vLLM gauge
  cannot see (no pod, no series): generous to KEDA.

The first tier (M) answers every request, so every autoscaler keeps at least one replica of it
(KEDA minReplicaCount 1, ours min_replicas 1); the tiers above start from zero. SLO: a request
waits at most `--slo` seconds at a tier before its service starts (the wait for a cold replica
included). Replica-seconds are counted over the day (cold starts and draining included).

    nice -n 19 .venv/bin/python benchmarks/autoscaler.py --seeds 5 \\
        --plot docs/results/autoscaler.png      # docs/autoscaler-benchmark.md has its output
"""

from __future__ import annotations

import argparse
import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from codecascade.autoscaler.config import AutoscalerSettings, ScalingOverrides
from codecascade.autoscaler.policy import Recommendation, TierScaler
from codecascade.autoscaler.signals import Snapshot, tier_signals
from codecascade.evaluation.cache import EvalCache
from codecascade.evaluation.calibrate import to_config
from codecascade.evaluation.grid import OutcomeTable, tier_outcome
from codecascade.router.policy import CascadePolicy

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

ROOT = Path(__file__).resolve().parents[1]
DAY_S = 86_400.0

# Event kinds, in the order ties are broken at one instant: a replica that becomes ready and
# a finished service free capacity before new arrivals and controller ticks look at the tier.
_READY, _DONE, _LEAVE, _ARRIVE, _TICK = range(5)


# ---------------------------------------------------------------------------------------------
# The workload: paths and service times from the committed cache


@dataclass(frozen=True, slots=True)
class Workload:
    """Per HumanEval problem: how many of the policy's tiers it visits, and its seconds there."""

    tiers: tuple[str, ...]
    task_ids: tuple[str, ...]
    visits: IntArray  # 1 .. len(tiers): tiers visited under the calibrated policy
    service_s: FloatArray  # [problem, tier] measured wall seconds of the tier's model calls
    sandbox_s: FloatArray  # [problem, tier] measured seconds of that tier's sandbox run

    @property
    def escalation_rate(self) -> float:
        """Share of problems the first tier escalates."""
        return float(np.mean(self.visits > 1))


def load_workload(cache_dir: Path, policy_file: Path) -> Workload:
    """The calibrated policy's path for every cached problem, decided by the grid's own code."""
    cache = EvalCache.load(cache_dir)
    config = to_config(CascadePolicy.load(policy_file))
    tiers = config.tiers
    gens = {t: cache.generations(t) for t in tiers}
    exes = {t: cache.executions(t) for t in tiers}
    ids = [i for i in cache.settings.task_ids if all(i in gens[t] and i in exes[t] for t in tiers)]
    outcomes = {
        (tier, *s.key): [tier_outcome(gens[tier][i], exes[tier][i], s.k, s.l, s.t) for i in ids]
        for tier, s in config.steps
    }
    table = OutcomeTable(
        ids,
        {t: cache.settings.price(t) for t in tiers},
        outcomes,
        k_max=cache.settings.k_max,
        l_max=cache.settings.l_max,
    )
    visits = table.per_problem(config).visited
    service = np.array([[o.wall_s for o in outcomes[(tier, *s.key)]] for tier, s in config.steps]).T
    sandbox = np.array([[exes[t][i].sandbox_s for i in ids] for t in tiers]).T
    return Workload(tuple(tiers), tuple(ids), visits.astype(np.intp), service, sandbox)


# ---------------------------------------------------------------------------------------------
# The trace


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """One simulated day of arrivals (rates in requests per second)."""

    peak_rate: float = 0.6  # the base traffic at the top of the diurnal curve
    night_floor: float = 0.03  # the base traffic's trough, as a share of its peak
    peak_hour: float = 15.0
    bursts: int = 6  # per day, between 07:00 and 22:00
    burst_factor: float = 3.0  # a burst multiplies the base traffic
    burst_s: tuple[float, float] = (300.0, 900.0)  # a burst's duration, uniform
    tenant_share: float = 0.25  # the harder tenant's traffic, relative to the base curve
    hard_end: float = 0.95  # its share of escalating problems at the end of the day


@dataclass(frozen=True, slots=True)
class Trace:
    times: FloatArray  # sorted arrival times at the router
    problems: IntArray  # the problem each request is
    tenant: npt.NDArray[np.bool_]  # from the harder tenant
    bursts: tuple[tuple[float, float], ...]


def diurnal(t: FloatArray, settings: TraceSettings) -> FloatArray:
    """The base traffic's rate at times t: a raised cosine, trough 12 h before the peak."""
    phase = 2 * np.pi * (t / 3600.0 - settings.peak_hour) / 24.0
    shape = 0.5 + 0.5 * np.cos(phase)
    return settings.peak_rate * (settings.night_floor + (1 - settings.night_floor) * shape)


def make_trace(workload: Workload, settings: TraceSettings, rng: np.random.Generator) -> Trace:
    """Non-homogeneous Poisson arrivals by thinning; problems drawn uniformly from the cache for
    the base traffic, and for the tenant from the escalating problems with a probability rising
    linearly from the cache's escalation rate to `hard_end` over the day."""
    starts = rng.uniform(7 * 3600.0, 22 * 3600.0, settings.bursts)
    lengths = rng.uniform(*settings.burst_s, settings.bursts)
    bursts = tuple(sorted(zip(starts.tolist(), (starts + lengths).tolist(), strict=True)))

    def base_rate(t: FloatArray) -> FloatArray:
        rate = diurnal(t, settings)
        for start, end in bursts:
            rate = np.where((t >= start) & (t < end), rate * settings.burst_factor, rate)
        return rate

    top = settings.peak_rate * settings.burst_factor
    candidates = np.sort(rng.uniform(0.0, DAY_S, rng.poisson(top * DAY_S)))
    base = candidates[rng.uniform(0.0, top, len(candidates)) < base_rate(candidates)]
    tenant_top = settings.peak_rate * settings.tenant_share
    candidates = np.sort(rng.uniform(0.0, DAY_S, rng.poisson(tenant_top * DAY_S)))
    keep = rng.uniform(0.0, 1.0, len(candidates)) < diurnal(candidates, settings) / (
        settings.peak_rate
    )
    tenant = candidates[keep]

    n_problems = len(workload.task_ids)
    escalating = np.flatnonzero(workload.visits > 1)
    answered = np.flatnonzero(workload.visits == 1)
    base_problems = rng.integers(0, n_problems, len(base))
    start = workload.escalation_rate
    hard = rng.uniform(0.0, 1.0, len(tenant)) < start + (settings.hard_end - start) * (
        tenant / DAY_S
    )
    tenant_problems = np.where(
        hard,
        escalating[rng.integers(0, len(escalating), len(tenant))],
        answered[rng.integers(0, len(answered), len(tenant))],
    )
    times = np.concatenate([base, tenant])
    order = np.argsort(times, kind="stable")
    return Trace(
        times=times[order],
        problems=np.concatenate([base_problems, tenant_problems])[order].astype(np.intp),
        tenant=np.concatenate([np.zeros(len(base), bool), np.ones(len(tenant), bool)])[order],
        bursts=bursts,
    )


def peak_replicas(
    workload: Workload, trace: Trace, tier: int, *, capacity: float, utilisation: float
) -> int:
    """Replicas for the trace's busiest 5 minutes at a tier, at the target utilisation."""
    visiting = workload.visits[trace.problems] > tier
    seconds = workload.service_s[trace.problems[visiting], tier]
    bins = (trace.times[visiting] // 300.0).astype(np.intp)
    work = np.bincount(bins, weights=seconds, minlength=int(DAY_S // 300) + 1) / 300.0
    return max(1, math.ceil(float(work.max()) / (capacity * utilisation)))


# ---------------------------------------------------------------------------------------------
# The simulated cluster


@dataclass(slots=True)
class Replica:
    index: int  # in the simulation's list of every replica ever asked for
    tier: int
    created: float
    ready: bool = False
    draining: bool = False
    ended: float = math.inf
    busy: int = 0


@dataclass(slots=True)
class TierState:
    """One tier: its replicas, its queue and the counters the autoscalers read."""

    concurrency: int
    cold_start_s: float
    replicas: list[Replica] = field(default_factory=list)  # live: not ended
    queue: deque[int] = field(default_factory=deque)
    in_tier: int = 0  # queued, in service or in the sandbox: the router's in-flight gauge
    in_tier_integral: float = 0.0  # its time integral (for the gauge's mean over a window)
    in_tier_since: float = 0.0
    in_tier_marks: deque[tuple[float, float]] = field(default_factory=deque)  # (t, integral)
    busy: int = 0
    # time integrals of busy slots and of ready slots (the utilisation an HPA averages)
    busy_integral: float = 0.0
    slot_integral: float = 0.0
    last_change: float = 0.0
    cost: float = 0.0  # replica-seconds within the day, of replicas already ended
    # recent events, for the signals a rate window reads
    arrivals: deque[float] = field(default_factory=deque)
    services: deque[tuple[float, float]] = field(default_factory=deque)  # (start, seconds)
    leaves: deque[tuple[float, bool, float]] = field(default_factory=deque)  # (t, escalated, s)
    waits: list[float] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (t, replicas asked for)

    def ready_slots(self) -> int:
        return self.concurrency * sum(1 for r in self.replicas if r.ready and not r.draining)

    def current(self) -> int:
        """Replicas asked for: starting or ready, not draining (an HPA's currentReplicas)."""
        return sum(1 for r in self.replicas if not r.draining)

    def starting(self) -> int:
        return sum(1 for r in self.replicas if not r.ready and not r.draining)

    def integrate(self, now: float) -> None:
        span = now - self.last_change
        if span > 0:
            self.busy_integral += self.busy * span
            self.slot_integral += self.ready_slots() * span
            self.last_change = now

    def count_in_tier(self, now: float, change: int) -> None:
        self.in_tier_integral += self.in_tier * (now - self.in_tier_since)
        self.in_tier_since = now
        self.in_tier += change

    def mean_in_tier(self, now: float, span_s: float) -> float:
        """The in-flight gauge averaged over the last `span_s` (Prometheus' avg_over_time)."""
        integral = self.in_tier_integral + self.in_tier * (now - self.in_tier_since)
        self.in_tier_marks.append((now, integral))
        while len(self.in_tier_marks) > 1 and self.in_tier_marks[1][0] <= now - span_s:
            self.in_tier_marks.popleft()
        then, before = self.in_tier_marks[0]
        return (integral - before) / (now - then) if now > then else float(self.in_tier)

    def forget(self, now: float, window_s: float) -> None:
        horizon = now - window_s
        while self.arrivals and self.arrivals[0] < horizon:
            self.arrivals.popleft()
        while self.services and self.services[0][0] < horizon:
            self.services.popleft()
        while self.leaves and self.leaves[0][0] < horizon:
            self.leaves.popleft()


class Controller(Protocol):
    """A scaling policy: it sets the initial replicas and is called every `period_s`."""

    name: str

    @property
    def period_s(self) -> float: ...

    def start(self, sim: Simulation) -> None: ...

    def tick(self, sim: Simulation, now: float) -> None: ...


class Simulation:
    """Requests through the tiers, replicas that cost from the moment they are asked for."""

    def __init__(
        self,
        workload: Workload,
        trace: Trace,
        *,
        concurrency: Sequence[int],
        cold_start_s: Sequence[float],
        signal_window_s: float,
    ) -> None:
        self.workload = workload
        self.trace = trace
        self.tiers = [TierState(c, s) for c, s in zip(concurrency, cold_start_s, strict=True)]
        self.signal_window_s = signal_window_s
        self.now = 0.0
        self._events: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self._replicas: list[Replica] = []
        self._arrived_at = np.zeros(len(trace.times))  # when the request reached its tier
        self._tier_of = np.zeros(len(trace.times), dtype=np.intp)  # the tier it is in

    def _push(self, at: float, kind: int, a: int = 0, b: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._events, (at, kind, self._seq, a, b))

    # -- scaling ---------------------------------------------------------------------------

    def scale(self, tier: int, replicas: int, *, warm: bool = False) -> None:
        """Ask for `replicas` at a tier: new ones start cold (or `warm`: ready at once);
        removals take starting replicas first, then idle ones, then drain the least busy."""
        state = self.tiers[tier]
        current = state.current()
        if replicas == current:
            return
        state.integrate(self.now)
        if replicas > current:
            for _ in range(replicas - current):
                replica = Replica(len(self._replicas), tier, self.now, ready=warm)
                self._replicas.append(replica)
                state.replicas.append(replica)
                if not warm:
                    self._push(self.now + state.cold_start_s, _READY, replica.index)
        else:
            live = [r for r in state.replicas if not r.draining]
            live.sort(key=lambda r: (r.ready, r.busy, -r.created))
            for replica in live[: current - replicas]:
                if replica.busy:
                    replica.draining = True
                else:
                    self._end(replica)
        state.timeline.append((self.now, replicas))
        if replicas > current and warm:
            self._dispatch(tier)

    def _end(self, replica: Replica) -> None:
        state = self.tiers[replica.tier]
        replica.ended = self.now
        state.replicas.remove(replica)
        state.cost += min(self.now, DAY_S) - min(replica.created, DAY_S)

    def replica_seconds(self, tier: int) -> float:
        state = self.tiers[tier]
        live = sum(DAY_S - min(r.created, DAY_S) for r in state.replicas)
        return state.cost + live

    def snapshot(self, chain: Sequence[str]) -> Snapshot:
        """The routers' series over the last signal window, as a signal source reduces them:
        arrivals into each tier, requests that left it and their seconds there (queue, service
        and sandbox: the router's `codecascade_tier_duration_seconds`), the in-flight gauge
        averaged over the window (Prometheus' avg_over_time, here the exact time average) and
        now, and the escalations from each tier to the next. Called once per poll."""
        tiers = dict(zip(chain, self.tiers, strict=True))
        return Snapshot(
            window_s=self.signal_window_s,
            arrivals={name: float(len(s.arrivals)) for name, s in tiers.items()},
            finished={name: float(len(s.leaves)) for name, s in tiers.items()},
            busy_s={name: sum(seconds for _, _, seconds in s.leaves) for name, s in tiers.items()},
            in_flight={
                name: s.mean_in_tier(self.now, self.signal_window_s) for name, s in tiers.items()
            },
            in_flight_now={name: float(s.in_tier) for name, s in tiers.items()},
            escalations={
                (name, after): float(sum(1 for _, escalated, _ in tiers[name].leaves if escalated))
                for name, after in pairwise(chain)
            },
        )

    # -- requests ----------------------------------------------------------------------------

    def _dispatch(self, tier: int) -> None:
        state = self.tiers[tier]
        while state.queue:
            free = [
                r
                for r in state.replicas
                if r.ready and not r.draining and r.busy < state.concurrency
            ]
            if not free:
                return
            replica = min(free, key=lambda r: r.busy)  # least outstanding requests
            request = state.queue.popleft()
            state.integrate(self.now)
            replica.busy += 1
            state.busy += 1
            state.waits.append(self.now - self._arrived_at[request])
            seconds = float(self.workload.service_s[self.trace.problems[request], tier])
            state.services.append((self.now, seconds))
            self._push(self.now + seconds, _DONE, request, replica.index)

    def _arrive(self, request: int, tier: int) -> None:
        state = self.tiers[tier]
        state.count_in_tier(self.now, +1)
        state.arrivals.append(self.now)
        self._arrived_at[request] = self.now
        state.queue.append(request)
        self._dispatch(tier)

    def run(self, controller: Controller) -> None:
        for request, at in enumerate(self.trace.times.tolist()):
            self._push(at, _ARRIVE, request, 0)
        controller.start(self)
        if math.isfinite(controller.period_s):
            self._push(controller.period_s, _TICK)
        pending = len(self.trace.times)
        while pending and self._events:
            at, kind, _, a, b = heapq.heappop(self._events)
            self.now = at
            if kind == _ARRIVE:
                self._arrive(a, b)
            elif kind == _DONE:
                replica = self._replicas[b]
                state = self.tiers[replica.tier]
                state.integrate(at)
                replica.busy -= 1
                state.busy -= 1
                if replica.draining and not replica.busy:
                    self._end(replica)
                problem = self.trace.problems[a]
                self._push(at + float(self.workload.sandbox_s[problem, replica.tier]), _LEAVE, a)
                self._dispatch(replica.tier)
            elif kind == _LEAVE:
                tier = int(self._tier_of[a])
                state = self.tiers[tier]
                state.count_in_tier(at, -1)
                escalates = int(self.workload.visits[self.trace.problems[a]]) > tier + 1
                state.leaves.append((at, escalates, at - self._arrived_at[a]))
                if escalates:
                    self._tier_of[a] = tier + 1
                    self._arrive(a, tier + 1)
                else:
                    pending -= 1
            elif kind == _READY:
                replica = self._replicas[a]
                if replica.ended == math.inf and not replica.draining:
                    state = self.tiers[replica.tier]
                    state.integrate(at)
                    replica.ready = True
                    self._dispatch(replica.tier)
            else:
                for state in self.tiers:
                    state.forget(at, self.signal_window_s)
                controller.tick(self, at)
                self._push(at + controller.period_s, _TICK)


# ---------------------------------------------------------------------------------------------
# The policies


@dataclass
class AlwaysOn:
    """Every tier fixed at its peak need, warm all day."""

    replicas: Sequence[int]
    name: str = "always-on (peak)"
    period_s: float = math.inf

    def start(self, sim: Simulation) -> None:
        for tier, count in enumerate(self.replicas):
            sim.scale(tier, count, warm=True)

    def tick(self, sim: Simulation, now: float) -> None:  # pragma: no cover - never ticks
        pass


@dataclass
class HpaRules:
    """The HPA's controller rules shared by both baselines (Kubernetes defaults)."""

    sync_s: float = 15.0
    tolerance: float = 0.1
    down_window_s: float = 300.0
    max_replicas: int = 64
    history: list[deque[tuple[float, int]]] = field(default_factory=list)

    def apply(self, sim: Simulation, tier: int, now: float, desired: int, minimum: int) -> None:
        """Clamp, limit the step up (max(2x, +4) per sync), stabilise the step down."""
        while len(self.history) <= tier:
            self.history.append(deque())
        current = sim.tiers[tier].current()
        desired = min(self.max_replicas, max(minimum, desired))
        desired = min(desired, max(2 * current, current + 4))
        history = self.history[tier]
        history.append((now, desired))
        while history and history[0][0] < now - self.down_window_s:
            history.popleft()
        if desired < current:
            desired = min(current, max(d for _, d in history))
        sim.scale(tier, desired)


@dataclass
class HpaUtilisation:
    """Kubernetes' HPA on the tier's slot utilisation (target 0.7), min 1 replica."""

    target: float = 0.7
    rules: HpaRules = field(default_factory=HpaRules)
    name: str = "HPA on utilisation"
    _last: list[tuple[float, float]] = field(default_factory=list)

    @property
    def period_s(self) -> float:
        return self.rules.sync_s

    def start(self, sim: Simulation) -> None:
        for tier in range(len(sim.tiers)):
            sim.scale(tier, 1, warm=True)
        self._last = [(0.0, 0.0) for _ in sim.tiers]

    def tick(self, sim: Simulation, now: float) -> None:
        for tier, state in enumerate(sim.tiers):
            state.integrate(now)
            busy0, slots0 = self._last[tier]
            busy, slots = state.busy_integral - busy0, state.slot_integral - slots0
            self._last[tier] = (state.busy_integral, state.slot_integral)
            current = state.current()
            utilisation = busy / slots if slots > 0 else 0.0
            ratio = utilisation / self.target
            desired = current
            if ratio > 1 + self.rules.tolerance:
                # Starting pods count at 0 %: the ratio over every pod asked for.
                everyone = busy / (self.rules.sync_s * state.concurrency * max(current, 1))
                if everyone / self.target > 1 + self.rules.tolerance:
                    desired = math.ceil(current * everyone / self.target)
            elif ratio < 1 - self.rules.tolerance:
                ready = current - state.starting()
                desired = math.ceil(ready * ratio) + state.starting()
            self.rules.apply(sim, tier, now, desired, 1)


@dataclass
class KedaQueue:
    """KEDA on queue length (production-stack's default trigger), HPA for 1 <-> N."""

    target: float = 5.0
    polling_s: float = 30.0
    cooldown_s: float = 300.0
    entry_min: int = 1  # the first tier answers everything: minReplicaCount 1
    later_min: int = 0  # minReplicaCount of the tiers above it (KEDA's default 0)
    rules: HpaRules = field(default_factory=HpaRules)
    name: str = "KEDA on queue length"
    _last_active: list[float] = field(default_factory=list)

    @property
    def period_s(self) -> float:
        return self.rules.sync_s

    def start(self, sim: Simulation) -> None:
        for tier in range(len(sim.tiers)):
            sim.scale(tier, self.entry_min if tier == 0 else self.later_min, warm=True)
        self._last_active = [-math.inf for _ in sim.tiers]

    def tick(self, sim: Simulation, now: float) -> None:
        poll = now % self.polling_s < self.rules.sync_s / 2
        for tier, state in enumerate(sim.tiers):
            minimum = self.entry_min if tier == 0 else self.later_min
            queue = len(state.queue)
            current = state.current()
            if poll:
                if queue > 0:
                    self._last_active[tier] = now
                    if current == 0:
                        sim.scale(tier, 1)
                        continue
                elif current > minimum and now - self._last_active[tier] >= self.cooldown_s:
                    if minimum == 0:
                        sim.scale(tier, 0)
                        continue
            if current == 0:
                continue  # the HPA does nothing at zero replicas
            desired = current
            if abs(queue / (self.target * current) - 1) > self.rules.tolerance:
                desired = math.ceil(queue / self.target)
            self.rules.apply(sim, tier, now, desired, max(minimum, 1))


@dataclass
class Ours:
    """The product's decision, unchanged: the service's typed settings (`AutoscalerSettings`),
    the routers' series reduced to a `Snapshot` as its signal sources reduce them, `tier_signals`
    and one `TierScaler` per tier, every `poll_interval_s`, applied directly (mode `direct`)."""

    settings: AutoscalerSettings
    name: str = "ours"
    _scalers: list[TierScaler] = field(default_factory=list)

    @property
    def period_s(self) -> float:
        return self.settings.poll_interval_s

    def start(self, sim: Simulation) -> None:
        chain = self.settings.chain
        self._scalers = [TierScaler(self.settings.scaling(tier)) for tier in chain]
        for tier, scaler in enumerate(self._scalers):
            if scaler.scaling.min_replicas:
                sim.scale(tier, scaler.scaling.min_replicas, warm=True)

    def decide(self, sim: Simulation, now: float) -> list[Recommendation]:
        chain = self.settings.chain
        inputs = tier_signals(
            sim.snapshot(chain),
            chain,
            self.settings.scaling,
            prior=self.settings.prior,
            prior_weight=self.settings.escalation_prior_weight,
        )
        return [
            scaler.step(now, inputs[name])
            for name, scaler in zip(chain, self._scalers, strict=True)
        ]

    def tick(self, sim: Simulation, now: float) -> None:
        for tier, recommendation in enumerate(self.decide(sim, now)):
            sim.scale(tier, recommendation.replicas)


@dataclass
class OursViaKeda(Ours):
    """Mode `keda` as the chart deploys it: KEDA acts on our External Scaler. Activation is
    pushed (StreamIsActive: 0 -> 1 at the poll that forecasts work); KEDA scales a tier back to
    0 after `cooldown_s` without IsActive (chart: cooldownPeriod 300); in between, KEDA's HPA
    reads GetMetrics (target x (replicas - 0.01), so its ceil lands on our count) every 15 s and
    applies its own rules on top: 10 % tolerance and the scale-up limit (the chart sets its
    scale-down window to 0, ours being stabilised already). The first tier goes through the same
    path here (the chart scales it on its in-flight requests with a prometheus trigger instead)."""

    cooldown_s: float = 300.0
    rules: HpaRules = field(default_factory=HpaRules)
    _last_active: list[float] = field(default_factory=list)

    def start(self, sim: Simulation) -> None:
        super().start(sim)
        self._last_active = [-math.inf for _ in sim.tiers]

    def tick(self, sim: Simulation, now: float) -> None:
        sync = now % self.rules.sync_s < self.period_s / 2
        for tier, recommendation in enumerate(self.decide(sim, now)):
            minimum = self._scalers[tier].scaling.min_replicas
            current = sim.tiers[tier].current()
            if recommendation.active:
                self._last_active[tier] = now
                if current == 0:
                    sim.scale(tier, 1)
                    continue
            elif current > minimum and now - self._last_active[tier] >= self.cooldown_s:
                if minimum == 0:
                    sim.scale(tier, 0)
                    continue
            if not sync or current == 0:
                continue
            wanted = recommendation.replicas - 0.01  # GetMetrics / target size
            desired = current
            if abs(wanted / current - 1) > self.rules.tolerance:
                desired = math.ceil(wanted)
            self.rules.apply(sim, tier, now, desired, max(minimum, 1))


# ---------------------------------------------------------------------------------------------
# Running and reporting


@dataclass(frozen=True, slots=True)
class TierResult:
    replica_seconds: float
    waits: FloatArray
    slo_s: float

    @property
    def p50(self) -> float:
        return float(np.percentile(self.waits, 50)) if len(self.waits) else 0.0

    @property
    def p95(self) -> float:
        return float(np.percentile(self.waits, 95)) if len(self.waits) else 0.0

    @property
    def misses(self) -> int:
        return int(np.sum(self.waits > self.slo_s))


@dataclass(frozen=True, slots=True)
class RunResult:
    policy: str
    seed: int
    tiers: tuple[TierResult, ...]
    timelines: tuple[tuple[tuple[float, int], ...], ...]


@dataclass(frozen=True, slots=True)
class Setup:
    """The simulated cluster and every policy's settings."""

    concurrency: tuple[int, ...]  # slots per replica, per tier
    cold_start_s: tuple[float, ...]
    utilisation: float  # the HPA's target, and always-on's sizing
    max_replicas: int
    slo_s: float
    ours: AutoscalerSettings  # the autoscaler service's settings, as the chart would set them


Factory = Callable[[Workload, Trace, Setup], Controller]


def always_on(workload: Workload, trace: Trace, setup: Setup) -> Controller:
    peak = [
        peak_replicas(
            workload, trace, t, capacity=setup.concurrency[t], utilisation=setup.utilisation
        )
        for t in range(len(workload.tiers))
    ]
    return AlwaysOn(peak)


def hpa(workload: Workload, trace: Trace, setup: Setup) -> Controller:
    return HpaUtilisation(setup.utilisation, HpaRules(max_replicas=setup.max_replicas))


def keda(threshold: float = 5.0, minimum: int = 0) -> Factory:
    def make(workload: Workload, trace: Trace, setup: Setup) -> Controller:
        name = "KEDA on queue length"
        if threshold != 5.0 or minimum:
            name += f", threshold {threshold:g}, min {minimum}"
        rules = HpaRules(max_replicas=setup.max_replicas)
        return KedaQueue(threshold, later_min=minimum, rules=rules, name=name)

    return make


def ours_via_keda(workload: Workload, trace: Trace, setup: Setup) -> Controller:
    return OursViaKeda(
        setup.ours,
        "ours, leading indicator, through KEDA (mode keda)",
        # The chart sets the HPA's scale-down window to 0: our count is already stabilised.
        rules=HpaRules(max_replicas=setup.max_replicas, down_window_s=0.0),
    )


def ours(leading: bool, utilisation: float | None = None) -> Factory:
    def make(workload: Workload, trace: Trace, setup: Setup) -> Controller:
        update: dict[str, object] = {"leading_indicator": leading}
        if utilisation is not None:
            update["target_utilisation"] = utilisation
        settings = setup.ours.model_copy(update=update)
        name = "ours, " + ("leading indicator" if leading else "no leading indicator")
        if utilisation is not None:
            name += f", target {utilisation:g}"
        return Ours(settings, name)

    return make


POLICIES: tuple[Factory, ...] = (
    always_on,
    hpa,
    keda(),
    ours(False),
    ours(True),
    ours_via_keda,
)
# The documented knob of each autoscaler turned towards the other's cost, to compare SLO
# misses at equal replica-seconds: KEDA's threshold down (and minReplicaCount 1), our target
# utilisation up.
TRADE_OFF: tuple[Factory, ...] = (
    keda(),
    keda(2.0),
    keda(5.0, minimum=1),
    keda(2.0, minimum=1),
    ours(False, 0.85),
    ours(False, 1.0),
    ours(True, 0.85),
    ours(True, 1.0),
)


def run_one(workload: Workload, trace: Trace, setup: Setup, controller: Controller) -> RunResult:
    sim = Simulation(
        workload,
        trace,
        concurrency=setup.concurrency,
        cold_start_s=setup.cold_start_s,
        signal_window_s=setup.ours.rate_window_s,
    )
    sim.run(controller)
    results = []
    for tier, state in enumerate(sim.tiers):
        results.append(TierResult(sim.replica_seconds(tier), np.array(state.waits), setup.slo_s))
    return RunResult(
        controller.name,
        -1,
        tuple(results),
        tuple(tuple(s.timeline) for s in sim.tiers),
    )


def simulate(
    workload: Workload,
    settings: TraceSettings,
    setup: Setup,
    seeds: Sequence[int],
    factories: Sequence[Factory] = POLICIES,
) -> list[RunResult]:
    """Every policy on each seed's trace (the same trace for every policy of a seed)."""
    results = []
    for seed in seeds:
        trace = make_trace(workload, settings, np.random.default_rng(seed))
        for make in factories:
            run = run_one(workload, trace, setup, make(workload, trace, setup))
            results.append(replace(run, seed=seed))
    return results


def _mean_spread(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def _fmt(values: Sequence[float], digits: int = 0) -> str:
    mean, spread = _mean_spread(values)
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def table(results: Sequence[RunResult], tiers: Sequence[str], slo_s: float) -> str:
    """Per tier and policy: replica-hours (and the share of always-on's), waits, SLO misses;
    mean ± standard deviation over the seeds."""
    names = list(dict.fromkeys(r.policy for r in results))
    baseline = names[0]
    lines = [
        f"| tier | policy | replica-hours | vs {baseline} | wait p50 s | wait p95 s "
        f"| SLO misses (wait > {slo_s:.0f} s) | miss share | requests |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t, tier in enumerate(tiers):
        always = {r.seed: r.tiers[t].replica_seconds for r in results if r.policy == baseline}
        for name in names:
            runs = [r for r in results if r.policy == name]
            hours = [r.tiers[t].replica_seconds / 3600 for r in runs]
            ratio = [r.tiers[t].replica_seconds / always[r.seed] for r in runs]
            misses = [float(r.tiers[t].misses) for r in runs]
            share = [r.tiers[t].misses / max(len(r.tiers[t].waits), 1) * 100 for r in runs]
            lines.append(
                f"| {tier} | {name} | {_fmt(hours, 1)} | {_fmt([x * 100 for x in ratio])} % "
                f"| {_fmt([r.tiers[t].p50 for r in runs], 1)} "
                f"| {_fmt([r.tiers[t].p95 for r in runs], 1)} | {_fmt(misses)} "
                f"| {_fmt(share, 2)} % | {_fmt([float(len(r.tiers[t].waits)) for r in runs])} |"
            )
    return "\n".join(lines)


def verdict(
    results: Sequence[RunResult], tier: int, mine: str, keda: str, always: str | None = None
) -> str:
    """The issue's targets for one tier, seed by seed: replica-seconds at most half of
    always-on's; fewer SLO misses than KEDA on queue length at equal or lower replica-seconds."""
    by = {(r.policy, r.seed): r.tiers[tier] for r in results}
    seeds = sorted({r.seed for r in results if r.policy == mine})
    parts = [f"{mine}:"]
    if always is not None:
        half = sum(
            by[(mine, s)].replica_seconds <= 0.5 * by[(always, s)].replica_seconds for s in seeds
        )
        parts.append(f"<= 50 % of always-on's replica-seconds in {half}/{len(seeds)} seeds;")
    both = sum(
        by[(mine, s)].misses < by[(keda, s)].misses
        and by[(mine, s)].replica_seconds <= by[(keda, s)].replica_seconds
        for s in seeds
    )
    fewer = sum(by[(mine, s)].misses < by[(keda, s)].misses for s in seeds)
    parts.append(
        f"fewer SLO misses than {keda} in {fewer}/{len(seeds)}, and at equal or lower "
        f"replica-seconds in {both}/{len(seeds)}"
    )
    return " ".join(parts)


def plot(
    results: Sequence[RunResult],
    workload: Workload,
    trace: Trace,
    setup: Setup,
    path: Path,
    tier: int,
) -> None:
    """Top: one seed's day at the tier, the replicas each policy asked for over the load (its
    requests' measured seconds per 5 minutes, over one replica's slots at the target). Bottom
    left: the same around the day's largest burst. Bottom right: replica-hours against SLO
    misses, every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seed = results[0].seed
    names = list(dict.fromkeys(r.policy for r in results))
    palette = ["0.45", "tab:orange", "tab:red", "tab:blue", "tab:green", "tab:olive", "tab:purple"]
    colours = {name: palette[i % len(palette)] for i, name in enumerate(names)}
    figure = plt.figure(figsize=(13, 8.5))
    grid = figure.add_gridspec(2, 2, width_ratios=[1.6, 1])
    day = figure.add_subplot(grid[0, :])
    zoom = figure.add_subplot(grid[1, 0])
    scatter = figure.add_subplot(grid[1, 1])

    visiting = workload.visits[trace.problems] > tier
    seconds = workload.service_s[trace.problems[visiting], tier]
    bins = (0.0, DAY_S)
    work, edges = np.histogram(trace.times[visiting], bins=288, range=bins, weights=seconds)
    load = work / 300.0 / (setup.concurrency[tier] * setup.utilisation)
    burst = max(
        trace.bursts or ((0.0, 3600.0),),
        key=lambda b: float(load[int(b[0] // 300) : int(b[1] // 300) + 1].max(initial=0.0)),
    )
    window = ((burst[0] - 900.0) / 3600, (burst[1] + 1200.0) / 3600)
    for axis in (day, zoom):
        axis.fill_between(
            edges[:-1] / 3600, load, step="post", color="0.88", label="load at the target"
        )
        for run in (r for r in results if r.seed == seed):
            points = [*run.timelines[tier], (DAY_S, run.timelines[tier][-1][1])]
            axis.step(
                [t / 3600 for t, _ in points],
                [n for _, n in points],
                where="post",
                label=run.policy,
                color=colours[run.policy],
                linewidth=0.9 if axis is day else 1.4,
            )
        axis.set_ylabel(f"tier {workload.tiers[tier]} replicas")
    day.set_xlim(0, 24)
    day.set_xlabel("hour of the simulated day")
    day.set_title(
        f"tier {workload.tiers[tier]}, seed {seed}: replicas asked for (cold start "
        f"{setup.cold_start_s[tier]:g} s), and the load in 5-minute bins"
    )
    day.legend(fontsize=8, loc="upper left", ncol=2)
    zoom.set_xlim(*window)
    zoom.set_xlabel("hour")
    zoom.set_title("the largest burst")
    for name in names:
        runs = [r for r in results if r.policy == name]
        scatter.scatter(
            [r.tiers[tier].replica_seconds / 3600 for r in runs],
            [r.tiers[tier].misses for r in runs],
            color=colours[name],
            label=name,
            s=22,
        )
    scatter.set_xlabel(f"tier {workload.tiers[tier]} replica-hours per day")
    scatter.set_ylabel(f"escalated requests waiting > {setup.slo_s:.0f} s")
    scatter.set_yscale("symlog", linthresh=10)
    scatter.set_title("every seed")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def our_settings(workload: Workload, concurrency: int, max_replicas: int) -> AutoscalerSettings:
    """The autoscaler service's settings for this cluster: its defaults, with what a deployment
    states about its tiers (chain, slots per replica, the replica cap, each tier's expected
    seconds per request) and the first tier kept at one replica (it answers every request)."""
    latency = {
        tier: float(round(np.mean(workload.service_s[:, t] + workload.sandbox_s[:, t])))
        for t, tier in enumerate(workload.tiers)
    }
    overrides = {tier: ScalingOverrides(latency_s=latency[tier]) for tier in workload.tiers}
    first = workload.tiers[0]
    overrides[first] = ScalingOverrides(latency_s=latency[first], min_replicas=1)
    return AutoscalerSettings(
        chain=list(workload.tiers),
        capacity=float(concurrency),
        max_replicas=max_replicas,
        tiers=overrides,
    )


def _section(
    title: str,
    results: Sequence[RunResult],
    tier: int,
    *,
    key: str,
) -> None:
    print(f"\n{title}\n")
    print(f"| {key} | policy | replica-hours | wait p95 s | SLO misses |")
    print("| --- | --- | --- | --- | --- |")
    for label in dict.fromkeys(r.policy.split(" @ ")[1] for r in results):
        for name in dict.fromkeys(r.policy.split(" @ ")[0] for r in results):
            mine = [r.tiers[tier] for r in results if r.policy == f"{name} @ {label}"]
            if not mine:
                continue
            print(
                f"| {label} | {name} | {_fmt([r.replica_seconds / 3600 for r in mine], 1)}"
                f" | {_fmt([r.p95 for r in mine], 1)} | {_fmt([float(r.misses) for r in mine])} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks/results/eval-humaneval")
    parser.add_argument(
        "--policy", type=Path, default=ROOT / "benchmarks/results/policy-humaneval.yaml"
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. n-1")
    parser.add_argument("--peak-rate", type=float, default=TraceSettings().peak_rate)
    parser.add_argument("--hard-end", type=float, default=TraceSettings().hard_end)
    parser.add_argument("--concurrency", type=int, default=4, help="slots per replica")
    parser.add_argument("--utilisation", type=float, default=0.7, help="HPA target, sizing")
    parser.add_argument("--cold-start-first", type=float, default=60.0, help="seconds, tier M")
    parser.add_argument("--cold-start-last", type=float, default=120.0, help="seconds, tier L")
    parser.add_argument("--max-replicas", type=int, default=64)
    parser.add_argument("--slo", type=float, default=30.0, help="seconds of wait at a tier")
    parser.add_argument(
        "--sweep",
        type=float,
        nargs="*",
        default=[30.0, 60.0, 90.0, 120.0],
        help="cold starts of the last tier to sweep (seconds; none: no sweep)",
    )
    parser.add_argument("--sweep-seeds", type=int, default=3)
    parser.add_argument("--trade-off-seeds", type=int, default=3, help="0: no trade-off table")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()

    started = time.perf_counter()
    workload = load_workload(args.cache, args.policy)
    settings = TraceSettings(peak_rate=args.peak_rate, hard_end=args.hard_end)
    n = len(workload.tiers)
    colds = tuple([args.cold_start_first] * (n - 1) + [args.cold_start_last])
    setup = Setup(
        concurrency=(args.concurrency,) * n,
        cold_start_s=colds,
        utilisation=args.utilisation,
        max_replicas=args.max_replicas,
        slo_s=args.slo,
        ours=our_settings(workload, args.concurrency, args.max_replicas),
    )
    print(
        f"workload: {len(workload.task_ids)} problems, tiers {' -> '.join(workload.tiers)}, "
        f"escalation rate {workload.escalation_rate:.1%}; measured seconds per request "
        + ", ".join(
            f"{tier} {workload.service_s[:, t].mean():.1f} (p95 "
            f"{np.percentile(workload.service_s[:, t], 95):.1f}) + sandbox "
            f"{workload.sandbox_s[:, t].mean():.1f}"
            for t, tier in enumerate(workload.tiers)
        )
    )
    seeds = list(range(args.seeds))
    traces = [make_trace(workload, settings, np.random.default_rng(s)) for s in seeds]
    print(
        f"trace: {np.mean([len(t.times) for t in traces]):.0f} requests per day (mean of "
        f"{len(seeds)} seeds), {settings.bursts} bursts x{settings.burst_factor:g}, tenant "
        f"{settings.tenant_share:.0%} of the base curve escalating up to {settings.hard_end:.0%}"
    )
    print(
        f"setup: {args.concurrency} slots per replica, HPA target utilisation "
        f"{args.utilisation}, cold start {' / '.join(f'{c:g} s' for c in colds)}, "
        f"SLO wait <= {args.slo:g} s"
    )
    ours_shown = setup.ours.model_dump(
        include={
            "poll_interval_s",
            "rate_window_s",
            "target_utilisation",
            "stabilisation_window_s",
            "escalation_prior",
            "escalation_prior_weight",
        }
    )
    print(f"ours: {ours_shown}; per tier {setup.ours.tiers}\n")
    results = simulate(workload, settings, setup, seeds)
    print(table(results, workload.tiers, args.slo))
    names = list(dict.fromkeys(r.policy for r in results))
    last = n - 1
    print()
    for mine in names[3:]:
        print(verdict(results, last, mine, names[2], names[0]))
    if args.plot:
        plot(results, workload, traces[0], setup, args.plot, last)
        print(f"\nplot: {args.plot}")

    if args.trade_off_seeds:
        runs = simulate(workload, settings, setup, range(args.trade_off_seeds), TRADE_OFF)
        _section(
            f"trade-off, tier {workload.tiers[last]} ({args.trade_off_seeds} seeds): each "
            "autoscaler's documented knob",
            [replace(r, policy=f"{r.policy} @ {colds[-1]:g} s") for r in runs],
            last,
            key=f"{workload.tiers[last]} cold start",
        )
        print()
        traded = list(dict.fromkeys(r.policy for r in runs))
        for mine in (name for name in traded if name.startswith("ours")):
            print(verdict(runs, last, mine, traded[0]))
    if args.sweep:
        swept_runs = []
        for cold in args.sweep:
            swept = replace(setup, cold_start_s=(*colds[:-1], cold))
            runs = simulate(workload, settings, swept, range(args.sweep_seeds), POLICIES[1:])
            swept_runs += [replace(r, policy=f"{r.policy} @ {cold:g} s") for r in runs]
        _section(
            f"cold-start sweep, tier {workload.tiers[last]} ({args.sweep_seeds} seeds; "
            "always-on starts warm and does not depend on it)",
            swept_runs,
            last,
            key=f"{workload.tiers[last]} cold start",
        )
    print(f"\n{time.perf_counter() - started:.0f} s wall, {time.process_time():.0f} s CPU")


if __name__ == "__main__":
    main()
