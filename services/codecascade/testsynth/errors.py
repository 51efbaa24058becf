"""Errors of test synthesis; the shared interceptor maps their kinds to gRPC status."""

from __future__ import annotations

from codecascade.core.errors import NotFound

__all__ = ["UnknownTier"]


class UnknownTier(NotFound):
    """The request names a tier this service has no endpoint for."""
