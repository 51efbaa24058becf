"""The one place domain errors become gRPC status codes, and peers' status codes become errors.

Domain code raises `codecascade.core.errors` (a plain `ErrorKind` each, no gRPC); the server
interceptor asks `status_for` how to abort, and adapters calling a mesh peer turn its status back
into the same kind with `from_rpc_error`, so meaning survives a hop in both directions:

    INVALID_INPUT      <-> INVALID_ARGUMENT
    NOT_FOUND          <-> NOT_FOUND
    UNAVAILABLE        <-> UNAVAILABLE
    RESOURCE_EXHAUSTED <-> RESOURCE_EXHAUSTED
    DEADLINE_EXCEEDED  <-> DEADLINE_EXCEEDED
    UNAUTHENTICATED    <-> UNAUTHENTICATED
    PERMISSION_DENIED  <-> PERMISSION_DENIED
    UNIMPLEMENTED      <-> UNIMPLEMENTED
    INTERNAL            -> INTERNAL, with a generic message (details go to logs and spans)
"""

from __future__ import annotations

import grpc

from codecascade.core.errors import (
    CascadeError,
    DeadlineExceeded,
    ErrorKind,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

__all__ = ["from_rpc_error", "status_code", "status_for"]

_STATUS: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
    ErrorKind.INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
}

_FROM_STATUS: dict[grpc.StatusCode, type[CascadeError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}


def status_code(kind: ErrorKind) -> grpc.StatusCode:
    """The gRPC status an error of this kind is reported with."""
    return _STATUS[kind]


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and client-facing message for an exception raised by a handler."""
    if isinstance(exc, CascadeError):
        return status_code(exc.kind), str(exc) or exc.__class__.__name__
    return grpc.StatusCode.INTERNAL, "internal error; see the service logs for the request id"


def from_rpc_error(exc: grpc.aio.AioRpcError, peer: str) -> CascadeError:
    """The error a failed call to a mesh peer becomes, keeping its meaning and the peer's words.

    A peer's INTERNAL or UNKNOWN stays a plain CascadeError (INTERNAL if it reaches our caller),
    so a bug downstream is never reported as the caller's bad input.
    """
    kind = _FROM_STATUS.get(exc.code(), CascadeError)
    return kind(f"{peer}: {exc.code().name}: {exc.details() or 'no details'}")
