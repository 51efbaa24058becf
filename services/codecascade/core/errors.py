"""The error hierarchy every service shares, with a plain kind instead of a transport status.

    CascadeError            kind INTERNAL
    ├── InvalidInput        kind INVALID_INPUT       the caller can fix the request
    │   └── NoFunctionToTest                         the task has no function a test could call
    ├── NotFound            kind NOT_FOUND           unknown tier, model or resource
    ├── Unavailable         kind UNAVAILABLE         a dependency or pool is not ready; retryable
    ├── ResourceExhausted   kind RESOURCE_EXHAUSTED  a queue, pool or budget is full
    ├── DeadlineExceeded    kind DEADLINE_EXCEEDED   the caller's deadline ran out
    ├── Unauthenticated     kind UNAUTHENTICATED     no valid credentials came with the call
    ├── PermissionDenied    kind PERMISSION_DENIED   the caller is known but may not do this
    └── Unimplemented       kind UNIMPLEMENTED       an optional method of a contract we serve

Domain code raises these and never learns about gRPC: `codecascade.mesh.errors` maps a kind to a
status code next to the interceptor that aborts with it. Anything that is not a CascadeError is
a bug and reaches callers as an internal error with a generic message. An inference failure is
never INVALID_INPUT.
"""

from __future__ import annotations

import enum

__all__ = [
    "CascadeError",
    "DeadlineExceeded",
    "ErrorKind",
    "InvalidInput",
    "NoFunctionToTest",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]


class ErrorKind(enum.Enum):
    """What went wrong, as a caller needs to know it (retry, fix the request, give up)."""

    INTERNAL = "internal"
    INVALID_INPUT = "invalid_input"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    UNIMPLEMENTED = "unimplemented"


class CascadeError(Exception):
    """Base of every error a service raises on purpose; its message is shown to the caller."""

    kind: ErrorKind = ErrorKind.INTERNAL


class InvalidInput(CascadeError):
    kind = ErrorKind.INVALID_INPUT


class NotFound(CascadeError):
    kind = ErrorKind.NOT_FOUND


class Unavailable(CascadeError):
    kind = ErrorKind.UNAVAILABLE


class ResourceExhausted(CascadeError):
    kind = ErrorKind.RESOURCE_EXHAUSTED


class DeadlineExceeded(CascadeError):
    kind = ErrorKind.DEADLINE_EXCEEDED


class Unauthenticated(CascadeError):
    kind = ErrorKind.UNAUTHENTICATED


class PermissionDenied(CascadeError):
    kind = ErrorKind.PERMISSION_DENIED


class Unimplemented(CascadeError):
    """A method a third-party contract lets us leave out (KEDA's StreamMetricSpec)."""

    kind = ErrorKind.UNIMPLEMENTED


class NoFunctionToTest(InvalidInput):
    """The prompt names or defines no function whose behaviour a test could check."""
