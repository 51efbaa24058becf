"""Retry on UNAVAILABLE only, with backoff, never past the deadline."""

from __future__ import annotations

import time

import pytest

from codecascade.core.errors import InvalidInput, Unavailable
from codecascade.tierclient.errors import TierDeadlineExceeded, TierUnavailable
from codecascade.tierclient.retry import RetryPolicy, call_with_retry

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)


async def test_retries_unavailable_then_succeeds() -> None:
    calls: list[float] = []

    async def attempt(left: float) -> str:
        calls.append(left)
        if len(calls) < 3:
            raise Unavailable("connection refused")
        return "ok"

    result, attempts = await call_with_retry(
        attempt, deadline=time.monotonic() + 5, policy=FAST, what="tier S"
    )
    assert (result, attempts) == ("ok", 3)
    assert all(0 < left <= 5 for left in calls)


async def test_gives_up_with_detail_after_max_attempts() -> None:
    async def attempt(left: float) -> str:
        raise Unavailable("connection reset")

    with pytest.raises(TierUnavailable, match=r"tier S: connection reset \(after 3 attempt"):
        await call_with_retry(attempt, deadline=time.monotonic() + 5, policy=FAST, what="tier S")


async def test_does_not_retry_other_errors() -> None:
    calls = 0

    async def attempt(left: float) -> str:
        nonlocal calls
        calls += 1
        raise InvalidInput("bad")

    with pytest.raises(InvalidInput):
        await call_with_retry(attempt, deadline=time.monotonic() + 5, policy=FAST, what="t")
    assert calls == 1


async def test_no_backoff_past_the_deadline() -> None:
    slow = RetryPolicy(max_attempts=10, initial_backoff_s=10.0, max_backoff_s=10.0)

    async def attempt(left: float) -> str:
        raise Unavailable("down")

    # A frozen clock: the first backoff (5-10 s) would pass the deadline 1 s away, so the call
    # gives up after one attempt instead of sleeping.
    with pytest.raises(TierUnavailable, match="after 1 attempt"):
        await call_with_retry(attempt, deadline=1.0, policy=slow, what="t", clock=lambda: 0.0)


async def test_deadline_already_passed() -> None:
    async def attempt(left: float) -> str:
        raise AssertionError("must not be called")

    with pytest.raises(TierDeadlineExceeded):
        await call_with_retry(attempt, deadline=time.monotonic() - 1, policy=FAST, what="t")
