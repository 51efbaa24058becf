from __future__ import annotations

from pathlib import Path

import pytest

from codecascade.mesh.settings import ConfigError
from codecascade.sandbox.config import SandboxSettings


def test_environment_overrides_file_which_overrides_defaults(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("log_level: DEBUG\nsandbox:\n  pool_size: 7\n  grpc_port: 6000\n")
    monkeypatch.setenv("CODECASCADE_CONFIG", str(config))
    monkeypatch.setenv("GRPC_PORT", "7000")
    settings = SandboxSettings.load()
    assert (settings.log_level, settings.pool_size, settings.grpc_port) == ("DEBUG", 7, 7000)
    assert settings.max_tests == 128  # default


def test_malformed_values_name_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("POOL_SIZE", "many")
    with pytest.raises(ConfigError, match="POOL_SIZE"):
        SandboxSettings.load()


def test_unreadable_or_wrong_shaped_file_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CODECASCADE_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="cannot read"):
        SandboxSettings.load()
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    monkeypatch.setenv("CODECASCADE_CONFIG", str(bad))
    with pytest.raises(ConfigError, match="mapping"):
        SandboxSettings.load()


def test_settings_are_frozen() -> None:
    settings = SandboxSettings()
    with pytest.raises(ValueError):
        settings.pool_size = 3  # type: ignore[misc]
