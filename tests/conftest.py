"""Shared pytest configuration: keep service settings independent of the developer's shell."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODECASCADE_CONFIG", raising=False)
    monkeypatch.delenv("GRPC_PORT", raising=False)
