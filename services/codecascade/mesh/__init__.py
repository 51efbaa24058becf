"""Shared plumbing for every codecascade service: settings, logs, telemetry, the gRPC runner."""

from __future__ import annotations

__all__: list[str] = []
