"""A tier with no ready replica (scaled to zero): `when_cold: wait` or `answer_best`."""

from __future__ import annotations

import pytest

from codecascade.core.task import make_problem
from codecascade.core.usage import Usage
from codecascade.router.cascade import Cascade
from codecascade.router.events import Decision, TierWaking
from codecascade.router.policy import CascadePolicy, RequestOverrides, TierPolicy
from codecascade.router.ports import AssertSet, Candidates, Execution
from codecascade.tierclient.errors import TierUnavailable

PROBLEM = make_problem("def f(x):\n    '''Identity.'''\n")


class Clock:
    """Simulated time: the cascade's clock, advanced by the sleeps the test patches."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Ports:
    """S answers below θ (escalates); L is cold for its first `cold_calls` calls."""

    def __init__(self, cold_calls: int) -> None:
        self.cold_calls = cold_calls
        self.l_calls = 0

    async def write_solutions(self, tier, problem, *, seed, timeout_s):
        if tier.tier == "L":
            self.l_calls += 1
            if self.l_calls <= self.cold_calls:
                raise TierUnavailable("L: connection refused (no ready replica)")
        return Candidates(
            tuple(f"# {tier.tier} {i}\nx" for i in range(tier.k)), Usage(1, 1, 0), 0.1
        )

    async def write_tests(self, tier, problem, *, seed, timeout_s):
        return AssertSet(("assert f(1) == 1", "assert f(2) == 2"), Usage(1, 1, 0), 0.1)

    async def run_matrix(self, problem, solutions, tests, *, timeout_s):
        good = solutions[0].startswith("# L")
        return Execution(tuple((good or i == 0, good) for i in range(len(solutions))), 0.1)


def _cascade(when_cold: str, ports: Ports, clock: Clock) -> Cascade:
    policy = CascadePolicy(
        tiers=(
            TierPolicy(tier="S", k=2, test_lines=1, threshold=0.9),
            TierPolicy(tier="L", k=2, test_lines=1, threshold=0.9, when_cold=when_cold),
        )
    )
    return Cascade(policy, ports, ports, ports, clock=clock)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    monkeypatch.setattr("codecascade.router.cascade.asyncio.sleep", sleep)
    return clock


async def test_wait_streams_tier_waking_and_answers_once_the_tier_is_up(clock: Clock) -> None:
    events = []

    async def observe(event) -> None:
        events.append(event)

    ports = Ports(cold_calls=3)
    result = await _cascade("wait", ports, clock).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30, observer=observe
    )
    assert (result.tier, result.decision, result.cold_tier) == ("L", Decision.ACCEPTED, "")
    waking = [e for e in events if isinstance(e, TierWaking)]
    assert len(waking) == 1 and waking[0].tier == "L"
    assert "no ready replica" in waking[0].reason and 0 < waking[0].budget_s <= 30
    assert ports.l_calls == 4
    assert clock.now == pytest.approx(0.5 + 1 + 2)  # backoff doubling


async def test_wait_gives_up_within_the_deadline_with_the_best_earlier_answer(clock: Clock) -> None:
    ports = Ports(cold_calls=1000)
    result = await _cascade("wait", ports, clock).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=20
    )
    assert result.tier == "S" and result.decision is Decision.FINAL
    assert clock.now <= 20 - 1.0  # never past the deadline minus a tier's minimum


async def test_answer_best_answers_at_once_marked_with_the_cold_tier(clock: Clock) -> None:
    ports = Ports(cold_calls=1000)
    result = await _cascade("answer_best", ports, clock).run(
        PROBLEM, RequestOverrides(), seed=1, deadline_s=30
    )
    assert (result.tier, result.decision, result.cold_tier) == ("S", Decision.FINAL, "L")
    assert ports.l_calls == 1 and clock.now == 0
    assert "when_cold: answer_best" in result.attempts[0].reason
    assert result.attempts[-1].decision is Decision.SKIPPED


def test_when_cold_is_checked_on_load() -> None:
    with pytest.raises(ValueError, match="when_cold"):
        TierPolicy(tier="L", k=2, test_lines=1, when_cold="sleep")  # type: ignore[arg-type]
