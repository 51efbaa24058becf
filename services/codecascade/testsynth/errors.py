"""Errors of test synthesis; the shared interceptor maps them to gRPC status."""

from __future__ import annotations

from codecascade.mesh.errors import InvalidInput, NotFound

__all__ = ["NoFunctionToTest", "UnknownTier"]


class NoFunctionToTest(InvalidInput):
    """The prompt names or defines no function whose behaviour a test could check."""


class UnknownTier(NotFound):
    """The request names a tier this service has no endpoint for."""
