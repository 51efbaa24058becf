"""The autoscaler's loop: read the signals, decide per tier, publish, and (mode `direct`) act.

Every `poll_interval_s` the loop takes one `Snapshot` from its signal source, turns it into the
rule's inputs (`signals.tier_signals`), steps each tier's `TierScaler` (forecast, clamp,
stabilisation window) and keeps the latest `Recommendation` per tier. Readers are the KEDA
External Scaler servicer (IsActive / GetMetrics read the latest; StreamIsActive waits on `changes`
so activation is pushed the poll it is forecast) and, in mode `direct`, a `ScaleTarget` that sets
each tier's replicas (the Kubernetes one is `autoscaler.kube.KubeScaleTarget`).

Stateless replicas. Nothing here is stored: each recommendation is a function of the signals and
of the stabilisation window's samples, which are themselves recomputed from the signals every
poll. Two replicas reading the same routers (or the same Prometheus) on the same cadence hold the
same windows, up to one poll's phase; a replica that starts later holds a shorter window for its
first `stabilisation_window_s` and may recommend a scale-down early, which is why the KEDA mode
also keeps the HPA's own scale-down window and the direct mode runs one active replica (the
chart's default) or accepts that a restart can shorten one window. `Autoscaler.seed` takes the
window's past samples where a source can recompute them (Prometheus range queries).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from codecascade.autoscaler.policy import (
    Forecast,
    Recommendation,
    TierScaler,
    TierScaling,
)
from codecascade.autoscaler.signals import Snapshot, tier_signals

__all__ = ["Autoscaler", "Decision", "DecisionObserver", "ScaleTarget", "SignalSource"]

_log = logging.getLogger(__name__)

Mode = Literal["keda", "direct", "off"]


class ScaleTarget(Protocol):
    """Where mode `direct` applies a decision: sets a tier's replica count (idempotent: the loop
    calls it when the count changes and again after a failure)."""

    async def set_replicas(self, tier: str, replicas: int) -> None: ...


class SignalSource(Protocol):
    """Reads the routers' series; raises `core.errors.Unavailable` when it cannot."""

    async def snapshot(self) -> Snapshot: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """One poll's outcome for every tier of the chain (cascade order)."""

    at: float
    tiers: Mapping[str, Recommendation]


# Told of each poll's decision (the service's metrics).
DecisionObserver = Callable[[Decision], None]

_IDLE = Recommendation(Forecast(0.0, 0.0, 0.0, 0, False), 0)


class Autoscaler:
    """The loop over one signal source; `run()` until cancelled, or `poll()` step by step."""

    def __init__(
        self,
        chain: Sequence[str],
        scaling: Callable[[str], TierScaling],
        source: SignalSource,
        *,
        prior: Callable[[str], float],
        prior_weight: float,
        mode: Mode = "keda",
        target: ScaleTarget | None = None,
        scaled_tiers: Sequence[str] = (),
        observers: Sequence[DecisionObserver] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode == "direct" and target is None:
            raise ValueError("mode direct needs a ScaleTarget (the Kubernetes one: kube.py)")
        self.chain = tuple(chain)
        self._scaling = scaling
        self._scalers = {tier: TierScaler(scaling(tier)) for tier in self.chain}
        self._source = source
        self._prior = prior
        self._prior_weight = prior_weight
        self._mode = mode
        self._target = target
        # The tiers mode `direct` sets; by default every tier but the first (which, like the
        # router, scales on its own load with an HPA).
        self.scaled_tiers = tuple(scaled_tiers) or self.chain[1:]
        unknown = sorted(set(self.scaled_tiers) - set(self.chain))
        if unknown:
            raise ValueError(f"scaled_tiers {unknown} are not in the chain {list(self.chain)}")
        self._observers = tuple(observers)
        self._clock = clock
        self._latest: Decision | None = None
        self._applied: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self.last_error: str = ""

    @property
    def latest(self) -> Decision | None:
        """The last poll's decision (None before the first poll succeeded)."""
        return self._latest

    def knows(self, tier: str) -> bool:
        return tier in self._scalers

    def recommendation(self, tier: str) -> Recommendation:
        """The latest recommendation for `tier` (idle before the first poll)."""
        if tier not in self._scalers:
            raise KeyError(tier)
        if self._latest is None:
            return _IDLE
        return self._latest.tiers.get(tier, _IDLE)

    def scaling(self, tier: str) -> TierScaling:
        return self._scalers[tier].scaling

    def seed(self, samples: Sequence[tuple[float, Snapshot]]) -> None:
        """Replays past snapshots (oldest first) into the stabilisation windows, so a starting
        replica agrees with one that has been polling all along."""
        for at, snapshot in samples:
            self._decide(at, snapshot)

    async def poll(self) -> Decision:
        """One step: read, decide, publish, act. A source failure leaves the last decision in
        place (and is raised); a ScaleTarget failure is logged and retried next poll."""
        snapshot = await self._source.snapshot()
        decision = self._decide(self._clock(), snapshot)
        self._latest = decision
        for observe in self._observers:
            observe(decision)
        await self._notify()
        if self._mode == "direct" and self._target is not None:
            await self._apply(decision)
        return decision

    async def run(self, interval_s: float) -> None:
        """Polls every `interval_s` until cancelled; a failed poll is logged, never fatal."""
        while True:
            started = self._clock()
            try:
                await self.poll()
                self.last_error = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive a Prometheus restart
                if str(exc) != self.last_error:
                    _log.warning("autoscaler poll failed: %s", exc)
                self.last_error = str(exc)
                await self._notify()  # streams check whether their decision is now stale
            await asyncio.sleep(max(0.0, interval_s - (self._clock() - started)))

    async def changes(self) -> None:
        """Returns after the next poll, whether it published a decision or failed."""
        async with self._changed:
            await self._changed.wait()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _decide(self, at: float, snapshot: Snapshot) -> Decision:
        inputs = tier_signals(
            snapshot,
            self.chain,
            self._scaling,
            prior=self._prior,
            prior_weight=self._prior_weight,
        )
        return Decision(
            at, {tier: self._scalers[tier].step(at, inputs[tier]) for tier in self.chain}
        )

    async def _apply(self, decision: Decision) -> None:
        assert self._target is not None
        for tier in self.scaled_tiers:
            replicas = decision.tiers[tier].replicas
            if self._applied.get(tier) == replicas:
                continue
            try:
                await self._target.set_replicas(tier, replicas)
            except Exception as exc:  # retried next poll: _applied is left unchanged
                _log.warning("cannot scale tier %s to %d: %s", tier, replicas, exc)
                continue
            self._applied[tier] = replicas
