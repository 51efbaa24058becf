"""Deadline arithmetic: every downstream call gets what is left of the caller's deadline."""

from __future__ import annotations

from typing import Any, cast

import grpc

from codecascade.core.errors import DeadlineExceeded

__all__ = ["MARGIN_S", "remaining_s"]

# Time kept back so a reply (even an error) can still reach the caller before its deadline.
MARGIN_S = 0.05


def remaining_s(
    context: grpc.aio.ServicerContext[Any, Any], *, default: float, margin: float = MARGIN_S
) -> float:
    """Seconds left for downstream work: the caller's deadline less a margin, capped at default."""
    # grpc returns None when the caller set no deadline, though the stubs say float.
    left = cast("float | None", context.time_remaining())
    if left is None:
        return default
    budget = min(left - margin, default)
    if budget <= 0:
        raise DeadlineExceeded("the caller's deadline leaves no time to run the request")
    return budget
