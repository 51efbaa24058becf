"""codecascade: model cascading for code generation, as a set of gRPC services."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
