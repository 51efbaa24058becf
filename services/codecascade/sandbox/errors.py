"""Errors the sandbox service raises; the shared interceptor maps each to a gRPC status."""

from __future__ import annotations

from codecascade.core.errors import InvalidInput, ResourceExhausted, Unavailable

__all__ = ["InvalidJob", "PoolExhausted", "SandboxUnavailable"]


class InvalidJob(InvalidInput):
    """The request cannot be run as given (empty, oversized, not UTF-8, too many items)."""


class PoolExhausted(ResourceExhausted):
    """No pre-started sandbox became free within the bounded wait."""


class SandboxUnavailable(Unavailable):
    """The backend cannot run on this machine; the message says how to fix it."""
