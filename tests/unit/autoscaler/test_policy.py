"""The autoscaler's rule: forecast, clamp, activation and the stabilisation window."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codecascade.autoscaler.policy import (
    Stabiliser,
    TierScaler,
    TierScaling,
    TierSignals,
    desired_replicas,
    escalation_probability,
    forecast,
)

SCALING = TierScaling(capacity=2.0, target_utilisation=0.5, min_replicas=0, max_replicas=5)


def test_desired_is_work_over_capacity_at_target_utilisation() -> None:
    # 3 arrivals/s x 1 s each = 3 busy slots; one replica takes 2 x 0.5 = 1 slot -> 3 replicas.
    result = forecast(TierSignals(arrival_rate=3.0, work_per_arrival_s=1.0), SCALING)
    assert result.work == pytest.approx(3.0)
    assert result.desired == 3
    assert result.active


def test_exact_multiple_does_not_round_up_on_float_noise() -> None:
    scaling = TierScaling(capacity=1.0, target_utilisation=0.7, max_replicas=10)
    assert desired_replicas(3 * 0.7, scaling, active=True) == 3


def test_clamped_to_max_and_min() -> None:
    busy = TierSignals(arrival_rate=100.0, work_per_arrival_s=10.0)
    assert forecast(busy, SCALING).desired == 5
    floor = TierScaling(min_replicas=2, max_replicas=4)
    assert forecast(TierSignals(arrival_rate=0.0, work_per_arrival_s=1.0), floor).desired == 2


def test_an_active_tier_gets_at_least_one_replica() -> None:
    tiny = forecast(TierSignals(arrival_rate=0.001, work_per_arrival_s=0.001), SCALING)
    assert tiny.active and tiny.desired == 1


def test_idle_tier_asks_for_zero() -> None:
    idle = forecast(TierSignals(arrival_rate=0.0, work_per_arrival_s=5.0), SCALING)
    assert not idle.active and idle.desired == 0


def test_leading_indicator_activates_before_the_first_escalation_arrives() -> None:
    # Nothing has reached tier L yet, but 4 requests are in M, which escalates 50 % after 2 s.
    signals = TierSignals(
        arrival_rate=0.0,
        work_per_arrival_s=4.0,
        upstream_in_flight=4,
        escalation_probability=0.5,
        upstream_latency_s=2.0,
    )
    lead = forecast(signals, SCALING)
    assert lead.lead_rate == pytest.approx(1.0)
    assert lead.active and lead.desired == 4  # 1/s x 4 s = 4 slots at 1 slot per replica
    without = forecast(
        signals, TierScaling(capacity=2.0, target_utilisation=0.5, leading_indicator=False)
    )
    assert not without.active and without.desired == 0 and without.lead_rate == 0


def test_forecast_is_the_larger_of_now_and_the_lead_not_their_sum() -> None:
    # Steady state: what arrives now equals what tier i-1 will send (Little's law).
    steady = TierSignals(
        arrival_rate=1.0,
        work_per_arrival_s=1.0,
        upstream_in_flight=2.0,
        escalation_probability=0.5,
        upstream_latency_s=1.0,
    )
    assert forecast(steady, SCALING).arrival_rate == pytest.approx(1.0)


def test_requests_still_in_the_tier_keep_their_slots_after_the_rate_decays() -> None:
    # Long requests: nothing arrived within the window, but 3 are still being served.
    busy = forecast(TierSignals(arrival_rate=0.0, work_per_arrival_s=60.0, in_flight=3), SCALING)
    assert busy.active and busy.desired == 3 and busy.work == pytest.approx(3.0)


def test_sized_on_the_averaged_gauges_activated_at_once_on_the_current_ones() -> None:
    # The first request has just entered M (gauge 1 now), its mean over the window is still
    # 0.1: the tier activates now on the current value and is sized on the mean.
    scaling = TierScaling(capacity=1.0, target_utilisation=1.0, activation_threshold=0.2)
    rising = TierSignals(
        arrival_rate=0.0,
        work_per_arrival_s=4.0,
        upstream_in_flight=0.1,
        escalation_probability=0.5,
        upstream_latency_s=1.0,
        upstream_in_flight_now=1.0,
    )
    result = forecast(rising, scaling)
    assert result.lead_rate == pytest.approx(0.05)  # the mean's lead, not the current one's
    assert result.active and result.desired == 1
    assert not forecast(replace(rising, upstream_in_flight_now=0.0), scaling).active
    # A request entering the tier itself activates it before its mean moves.
    assert forecast(TierSignals(0.0, 4.0, in_flight_now=1.0), SCALING).active
    # A noisy gauge at 9 now, 2 on average over the window, asks for the average's replicas.
    noisy = TierSignals(0.0, 1.0, in_flight=2.0, in_flight_now=9.0)
    assert forecast(noisy, SCALING).desired == 2


def test_activation_threshold() -> None:
    scaling = TierScaling(activation_threshold=0.5)
    assert not forecast(TierSignals(arrival_rate=0.4, work_per_arrival_s=1.0), scaling).active
    assert forecast(TierSignals(arrival_rate=0.6, work_per_arrival_s=1.0), scaling).active


def test_stabiliser_scales_up_at_once_and_down_after_the_window() -> None:
    stab = Stabiliser(window_s=60)
    assert stab.update(0, 1) == 1
    assert stab.update(10, 4) == 4  # up at once
    assert stab.update(20, 1) == 4  # down waits
    assert stab.update(69, 0) == 4
    assert stab.update(71, 0) == 1  # the 4 at t=10 left the window; the 1 at t=20 has not
    assert stab.update(81, 0) == 0
    assert stab.current(1000) == 0


def test_stabiliser_seeded_history_agrees_with_one_that_saw_it() -> None:
    seen = Stabiliser(30)
    samples = [(0.0, 3), (5.0, 1), (10.0, 0)]
    for now, desired in samples:
        seen.update(now, desired)
    fresh = Stabiliser(30)
    fresh.seed(samples)
    for now in (12.0, 31.0, 36.0, 41.0):
        assert fresh.update(now, 0) == seen.update(now, 0)


def test_stabiliser_rejects_time_going_backwards() -> None:
    stab = Stabiliser(10)
    stab.update(5, 1)
    with pytest.raises(ValueError, match="backwards"):
        stab.update(4, 1)


def test_tier_scaler_stays_active_through_the_window_then_goes_to_zero() -> None:
    scaler = TierScaler(TierScaling(stabilisation_window_s=30))
    busy = TierSignals(arrival_rate=0.2, work_per_arrival_s=5.0)
    idle = TierSignals(arrival_rate=0.0, work_per_arrival_s=5.0)
    assert scaler.step(0, busy).active
    assert scaler.step(20, idle).active
    last = scaler.step(31, idle)
    assert not last.active and last.replicas == 0


def test_escalation_probability_smoothing() -> None:
    assert escalation_probability(0, 0, prior=0.3) == pytest.approx(0.3)
    assert escalation_probability(1, 1, prior=0.0, prior_weight=1) == pytest.approx(0.5)
    assert escalation_probability(50, 100, prior=0.9, prior_weight=0) == pytest.approx(0.5)
    assert escalation_probability(5, 2, prior=0.5, prior_weight=0) == 1.0  # counts from windows


@pytest.mark.parametrize(
    ("field", "value"),
    [("capacity", 0.0), ("target_utilisation", 1.5), ("min_replicas", 9), ("latency_s", 0.0)],
)
def test_bad_scaling_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        TierScaling(**{field: value})  # type: ignore[arg-type]


rates = st.floats(min_value=0, max_value=1e4, allow_nan=False)


@given(
    arrival=rates,
    work=st.floats(min_value=0, max_value=600, allow_nan=False),
    in_flight=st.floats(min_value=0, max_value=1e4, allow_nan=False),
    p=st.floats(min_value=0, max_value=1),
    lo=st.integers(min_value=0, max_value=5),
    span=st.integers(min_value=0, max_value=20),
)
def test_properties_of_the_forecast(
    arrival: float, work: float, in_flight: float, p: float, lo: int, span: int
) -> None:
    scaling = TierScaling(min_replicas=lo, max_replicas=lo + span)
    signals = TierSignals(arrival, work, in_flight, p, 3.0)
    with_lead = forecast(signals, scaling)
    without = forecast(
        signals, TierScaling(min_replicas=lo, max_replicas=lo + span, leading_indicator=False)
    )
    # Clamped, and the lead never asks for fewer replicas than the measured rate alone.
    assert lo <= with_lead.desired <= lo + span
    assert with_lead.desired >= without.desired
    if with_lead.active:
        unclamped = math.ceil(with_lead.work / scaling.replica_target - 1e-9)
        assert with_lead.desired == min(lo + span, max(lo, 1, unclamped))


@given(st.lists(st.tuples(st.floats(0, 50), st.integers(0, 9)), max_size=40), st.floats(0, 30))
def test_stabiliser_is_the_max_over_the_window(
    steps: list[tuple[float, int]], window: float
) -> None:
    stab = Stabiliser(window)
    now = 0.0
    seen: list[tuple[float, int]] = []
    for gap, desired in steps:
        now += gap
        seen.append((now, desired))
        expected = max(d for t, d in seen if t >= now - window)
        assert stab.update(now, desired) == expected
