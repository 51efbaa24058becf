"""The loop: snapshots in, recommendations out, and mode `direct` calls its ScaleTarget."""

from __future__ import annotations

import asyncio

import pytest

from codecascade.autoscaler.config import AutoscalerSettings
from codecascade.autoscaler.control import Autoscaler
from codecascade.autoscaler.signals import Snapshot, tier_signals


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A test double: hands out the snapshots the test queues."""

    def __init__(self, *snapshots: Snapshot) -> None:
        self.snapshots = list(snapshots)

    async def snapshot(self) -> Snapshot:
        return self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]

    async def aclose(self) -> None:
        return None


class Target:
    def __init__(self, fail: int = 0) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = fail

    async def set_replicas(self, tier: str, replicas: int) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("api server down")
        self.calls.append((tier, replicas))


SETTINGS = AutoscalerSettings.load(
    stabilisation_window_s=30,
    escalation_prior=0.0,
    escalation_prior_weight=0,
    tiers={"L": {"latency_s": 20.0}},
)

IDLE = Snapshot(window_s=10)
# 4 requests in M, half of what left M in the window escalated to L, M takes 2 s each.
RISING = Snapshot(
    window_s=10,
    arrivals={"S": 10, "M": 4},
    finished={"S": 10, "M": 4},
    busy_s={"S": 10, "M": 8},
    in_flight={"M": 4},
    in_flight_now={"M": 5},
    escalations={("S", "M"): 4, ("M", "L"): 2},
)


def autoscaler(source: Source, clock: Clock, **kwargs: object) -> Autoscaler:
    return Autoscaler(
        SETTINGS.chain,
        SETTINGS.scaling,
        source,
        prior=SETTINGS.prior,
        prior_weight=SETTINGS.escalation_prior_weight,
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


def test_tier_signals_from_a_snapshot() -> None:
    signals = tier_signals(
        RISING, SETTINGS.chain, SETTINGS.scaling, prior=SETTINGS.prior, prior_weight=0
    )
    assert signals["S"].arrival_rate == pytest.approx(1.0)
    assert signals["S"].upstream_in_flight == 0
    assert signals["L"].arrival_rate == 0
    assert signals["L"].upstream_in_flight == 4  # the mean over the window sizes L
    assert signals["L"].upstream_in_flight_now == 5  # the value now only activates it
    assert signals["M"].in_flight == 4 and signals["M"].in_flight_now == 5
    assert signals["L"].escalation_probability == pytest.approx(0.5)
    assert signals["L"].upstream_latency_s == pytest.approx(2.0)
    assert signals["L"].work_per_arrival_s == pytest.approx(20.0)  # L's configured latency


async def test_l_activates_on_the_forecast_and_returns_to_zero_after_the_window() -> None:
    clock = Clock()
    scaler = autoscaler(Source(RISING, IDLE), clock)
    assert not scaler.recommendation("L").active  # before the first poll
    first = await scaler.poll()
    # lead = 4 x 0.5 / 2 s = 1/s into L, 20 s each = 20 slots -> clamped to max 4.
    assert first.tiers["L"].active and first.tiers["L"].replicas == 4
    clock.now = 20
    assert (await scaler.poll()).tiers["L"].replicas == 4  # idle, inside the window
    clock.now = 31
    assert not (await scaler.poll()).tiers["L"].active


async def test_direct_mode_sets_changed_counts_and_retries_failures() -> None:
    clock = Clock()
    target = Target(fail=1)
    scaler = autoscaler(Source(RISING), clock, mode="direct", target=target)
    await scaler.poll()  # the first call (M) fails: retried next poll
    assert target.calls == [("L", 4)]  # S is not scaled (the first tier scales on its own)
    clock.now = 5
    await scaler.poll()
    clock.now = 10
    await scaler.poll()  # unchanged: no call
    # M: 0.4/s x 2 s = 0.8 slots, but 4 requests are in M now: 4 slots / 0.7 -> 6, max 4.
    assert target.calls == [("L", 4), ("M", 4)]


def test_direct_mode_needs_a_target() -> None:
    with pytest.raises(ValueError, match="ScaleTarget"):
        autoscaler(Source(IDLE), Clock(), mode="direct")


async def test_changes_wakes_on_the_next_poll() -> None:
    scaler = autoscaler(Source(RISING), Clock())
    waiter = asyncio.create_task(scaler.changes())
    await asyncio.sleep(0)
    await scaler.poll()
    await asyncio.wait_for(waiter, 1)


async def test_seed_replays_history_into_the_window() -> None:
    clock = Clock()
    clock.now = 25
    scaler = autoscaler(Source(IDLE), clock)
    scaler.seed([(0.0, RISING), (10.0, IDLE)])
    assert (await scaler.poll()).tiers["L"].replicas == 4  # the t=0 sample is in the window


def test_overrides_must_name_chain_tiers() -> None:
    with pytest.raises(Exception, match="not in chain"):
        AutoscalerSettings.load(tiers={"XL": {"max_replicas": 2}})
    with pytest.raises(Exception, match="min_replicas"):
        AutoscalerSettings.load(tiers={"L": {"min_replicas": 9}})


def test_per_tier_overrides_merge_over_the_shared_settings() -> None:
    settings = AutoscalerSettings.load(max_replicas=8, tiers={"L": {"capacity": 4.0}})
    assert settings.scaling("L").capacity == 4.0 and settings.scaling("L").max_replicas == 8
    assert settings.scaling("M").capacity == 1.0
