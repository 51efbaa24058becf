"""The autoscaler benchmark's simulator keeps its books: every request served once per tier it
visits, replicas paid from the moment they are asked for, cold starts waited through, and our
policy driven by the product's own decision code. A two-problem workload, a few requests."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.autoscaler import (
    DAY_S,
    POLICIES,
    AlwaysOn,
    KedaQueue,
    Setup,
    Trace,
    TraceSettings,
    Workload,
    make_trace,
    our_settings,
    ours,
    run_one,
)

# Problem 0 is answered by M; problem 1 escalates to L.
WORKLOAD = Workload(
    tiers=("M", "L"),
    task_ids=("easy", "hard"),
    visits=np.array([1, 2], dtype=np.intp),
    service_s=np.array([[5.0, 20.0], [5.0, 20.0]]),
    sandbox_s=np.array([[1.0, 1.0], [1.0, 1.0]]),
)


def _setup(cold_start_s: float = 100.0) -> Setup:
    return Setup(
        concurrency=(2, 2),
        cold_start_s=(30.0, cold_start_s),
        utilisation=0.7,
        max_replicas=8,
        slo_s=30.0,
        ours=our_settings(WORKLOAD, 2, 8),
    )


def _trace(times: list[float], problems: list[int]) -> Trace:
    return Trace(np.array(times), np.array(problems, dtype=np.intp), np.zeros(len(times), bool), ())


def test_every_request_is_served_once_per_tier_it_visits() -> None:
    day = make_trace(WORKLOAD, TraceSettings(peak_rate=0.05), np.random.default_rng(3))
    early = day.times < 2 * 3600.0  # two hours are enough, and the run stops when they are done
    trace = Trace(day.times[early], day.problems[early], day.tenant[early], ())
    escalated = int(np.sum(WORKLOAD.visits[trace.problems] > 1))
    assert 0 < escalated < len(trace.times)
    setup = _setup()
    for make in POLICIES:
        run = run_one(WORKLOAD, trace, setup, make(WORKLOAD, trace, setup))
        assert len(run.tiers[0].waits) == len(trace.times), run.policy
        assert len(run.tiers[1].waits) == escalated, run.policy
        assert all(t.waits.min() >= 0 for t in run.tiers)
        assert all(0 < t.replica_seconds <= 8 * DAY_S for t in run.tiers[:1])


def test_always_on_never_waits_and_pays_the_whole_day() -> None:
    trace = _trace([10.0, 11.0, 12.0], [1, 1, 0])
    run = run_one(WORKLOAD, trace, _setup(), AlwaysOn([2, 1]))  # 2 slots each
    assert run.tiers[0].replica_seconds == pytest.approx(2 * DAY_S)
    assert run.tiers[1].replica_seconds == pytest.approx(DAY_S)
    assert run.tiers[0].waits.max() == 0.0 and run.tiers[1].waits.max() == 0.0


def test_an_escalation_into_a_cold_tier_waits_through_the_cold_start() -> None:
    # KEDA sees the queue at its next 30 s poll, then the replica loads for 100 s.
    trace = _trace([1000.0], [1])
    run = run_one(WORKLOAD, trace, _setup(100.0), KedaQueue())
    (wait,) = run.tiers[1].waits
    assert 100.0 <= wait <= 100.0 + 30.0
    assert run.tiers[1].misses == 1
    # A replica costs from the moment it is asked for: the cold start is paid too.
    assert run.tiers[1].replica_seconds >= 100.0 + 20.0


def test_the_leading_indicator_wakes_the_next_tier_before_the_escalation() -> None:
    # The same escalating request: the blind rule starts L when the escalation arrives, the
    # leading indicator as soon as the request is in M (escalation prior 0.5).
    trace = _trace([1000.0], [1])
    setup = _setup(100.0)
    blind = run_one(WORKLOAD, trace, setup, ours(False)(WORKLOAD, trace, setup))
    leading = run_one(WORKLOAD, trace, setup, ours(True)(WORKLOAD, trace, setup))
    (blind_wait,) = blind.tiers[1].waits
    (leading_wait,) = leading.tiers[1].waits
    assert blind_wait >= 100.0 - setup.ours.poll_interval_s
    assert leading_wait <= blind_wait - 5.0  # M's 5 s of service and 1 s of sandbox earlier
