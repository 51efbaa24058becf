"""The error hierarchy every service shares, and the one place that maps it to gRPC status.

    CascadeError
    ├── InvalidInput        -> INVALID_ARGUMENT   the caller can fix the request
    ├── NotFound            -> NOT_FOUND          unknown tier, model or resource
    ├── Unavailable         -> UNAVAILABLE        a dependency or pool is not ready; retryable
    ├── ResourceExhausted   -> RESOURCE_EXHAUSTED a queue, pool or budget is full
    └── DeadlineExceeded    -> DEADLINE_EXCEEDED  the caller's deadline ran out

Anything else is a bug and becomes INTERNAL with a generic message; details go to logs and spans,
never to the client. An inference failure is never INVALID_ARGUMENT.
"""

from __future__ import annotations

import grpc

__all__ = [
    "CascadeError",
    "DeadlineExceeded",
    "InvalidInput",
    "NotFound",
    "ResourceExhausted",
    "Unavailable",
    "from_rpc_error",
    "status_for",
]


class CascadeError(Exception):
    """Base of every error a service raises on purpose; its message is shown to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidInput(CascadeError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(CascadeError):
    code = grpc.StatusCode.NOT_FOUND


class Unavailable(CascadeError):
    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(CascadeError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(CascadeError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and client-facing message for an exception raised by a handler."""
    if isinstance(exc, CascadeError):
        return exc.code, str(exc) or exc.__class__.__name__
    return grpc.StatusCode.INTERNAL, "internal error; see the service logs for the request id"


_FROM_STATUS: dict[grpc.StatusCode, type[CascadeError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def from_rpc_error(exc: grpc.aio.AioRpcError, peer: str) -> CascadeError:
    """The error a failed call to a mesh peer becomes, keeping its meaning and the peer's words.

    A peer's INTERNAL or UNKNOWN stays a plain CascadeError (INTERNAL if it reaches our caller),
    so a bug downstream is never reported as the caller's bad input.
    """
    kind = _FROM_STATUS.get(exc.code(), CascadeError)
    return kind(f"{peer}: {exc.code().name}: {exc.details() or 'no details'}")
