"""Typed, frozen settings shared by every service: defaults < YAML file < environment.

Each service subclasses `ServiceSettings` in its own `config.py`. Values come from, in rising
priority: the defaults in code (equal to the Helm chart's `values.yaml`), the YAML file named by
`CODECASCADE_CONFIG` (a mapping; a service reads its own section plus the shared top level), and
environment variables. A malformed value stops the service at startup with the variable's name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from codecascade.core.errors import InvalidInput

__all__ = ["CONFIG_FILE_ENV", "ConfigError", "ServiceSettings", "read_yaml_mapping"]

CONFIG_FILE_ENV = "CODECASCADE_CONFIG"


class ConfigError(InvalidInput):
    """Configuration is missing or malformed; the message names the variable or key."""


def read_yaml_mapping(path: Path, *, named: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (empty: {}); errors name the file as `named`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{named}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{named}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{named}: expected a mapping at the top level")
    return document


def _read_config_file(section: str) -> dict[str, Any]:
    path = os.environ.get(CONFIG_FILE_ENV, "")
    if not path:
        return {}
    document = read_yaml_mapping(Path(path), named=f"{CONFIG_FILE_ENV}={path}")
    shared = {k: v for k, v in document.items() if not isinstance(v, dict)}
    own = document.get(section, {})
    if not isinstance(own, dict):
        raise ConfigError(f"{CONFIG_FILE_ENV}={path}: section '{section}' must be a mapping")
    return {**shared, **own}


class ServiceSettings(BaseSettings):
    """What every service needs: where to listen, how to stop, how big a message may be."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    # The section of the YAML file this service reads; subclasses set it.
    config_section: ClassVar[str] = "mesh"

    grpc_host: str = Field(default="127.0.0.1", description="Address the gRPC server binds.")
    grpc_port: int = Field(default=50051, ge=0, le=65535, description="gRPC listen port.")
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Prometheus /metrics port; 0 disables it."
    )
    max_message_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest gRPC message accepted or sent."
    )
    shutdown_grace_s: float = Field(
        default=10.0, ge=0, description="Seconds in-flight calls get to finish on SIGTERM."
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_values = InitSettingsSource(settings_cls, _read_config_file(cls.config_section))
        return (init_settings, env_settings, file_values)

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Reads the settings, turning validation errors into one actionable ConfigError."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid {cls.config_section} configuration: {problems}") from exc
