"""Errors a tier client raises about a remote tier, whatever protocol it speaks.

    CascadeError (codecascade.core.errors)
    ├── InvalidInput
    │   └── TierRejected         the tier answered INVALID_ARGUMENT (400/422): not retried
    ├── NotFound
    │   └── TierNotFound         the tier server does not serve the requested model
    ├── Unavailable
    │   └── TierUnavailable      a tier server is unreachable or went away mid-request
    ├── ResourceExhausted
    │   └── TierOverloaded       a remote tier answered RESOURCE_EXHAUSTED (after retries)
    ├── DeadlineExceeded
    │   └── TierDeadlineExceeded the caller's deadline ran out waiting for a tier
    └── TierFailed               the tier answered INTERNAL/UNKNOWN or garbage (not retried)

A remote INVALID_ARGUMENT reaches the caller as `TierRejected` (an `InvalidInput`), so the router
never retries a request the tier will always refuse.
"""

from __future__ import annotations

from codecascade.core.errors import (
    CascadeError,
    DeadlineExceeded,
    InvalidInput,
    NotFound,
    ResourceExhausted,
    Unavailable,
)

__all__ = [
    "TierDeadlineExceeded",
    "TierFailed",
    "TierNotFound",
    "TierOverloaded",
    "TierRejected",
    "TierUnavailable",
]


class TierNotFound(NotFound):
    """The tier answered NOT_FOUND: it does not serve that model name."""


class TierRejected(InvalidInput):
    """The tier answered INVALID_ARGUMENT; retrying the same request cannot help."""


class TierUnavailable(Unavailable):
    """The tier could not be reached, or dropped the connection mid-request."""


class TierOverloaded(ResourceExhausted):
    """The tier kept answering RESOURCE_EXHAUSTED."""


class TierDeadlineExceeded(DeadlineExceeded):
    """No answer from the tier before the deadline."""


class TierFailed(CascadeError):
    """The tier failed in a way retrying will not fix, or sent a malformed response."""
