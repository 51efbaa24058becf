"""Retrying a tier call on UNAVAILABLE, with capped exponential backoff, inside one deadline.

Only `Unavailable` is retried: a restarting pod or a dropped connection goes away, while a
rejected request, an unknown model or an overloaded tier does not get better by asking again at
once. Every attempt gets the time left on the caller's deadline, never a fresh timeout, so the
whole call ends by the deadline however many attempts it takes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from codecascade.core.errors import Unavailable
from codecascade.tierclient.errors import TierDeadlineExceeded, TierUnavailable

__all__ = ["RetryPolicy", "call_with_retry"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0


async def call_with_retry(
    attempt: Callable[[float], Awaitable[T]],
    *,
    deadline: float,
    policy: RetryPolicy,
    what: str,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[T, int]:
    """Runs `attempt(time_left_s)` until it succeeds; returns its result and the attempt count.

    `deadline` is on `clock`'s timeline. After the last attempt, or when the next backoff would
    pass the deadline, the last UNAVAILABLE is raised with the attempt count added to its detail.
    """
    backoff = policy.initial_backoff_s
    for number in range(1, max(1, policy.max_attempts) + 1):
        left = deadline - clock()
        if left <= 0:
            raise TierDeadlineExceeded(f"{what}: deadline passed before attempt {number}")
        try:
            return await attempt(left), number
        except Unavailable as exc:
            pause = random.uniform(0.5, 1.0) * backoff  # jitter spreads retrying clients apart
            if number >= policy.max_attempts or clock() + pause >= deadline:
                detail = str(exc) if str(exc).startswith(what) else f"{what}: {exc}"
                raise TierUnavailable(f"{detail} (after {number} attempt(s))") from exc
            await asyncio.sleep(pause)
            backoff = min(backoff * 2, policy.max_backoff_s)
    raise AssertionError("unreachable")  # the loop always returns or raises
