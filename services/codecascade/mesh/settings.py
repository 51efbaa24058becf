"""Typed, frozen settings shared by every service: defaults < YAML file < environment.

Each service subclasses `ServiceSettings` in its own `config.py`. Values come from, in rising
priority: the defaults in code (equal to the Helm chart's `values.yaml`), the YAML file named by
`CODECASCADE_CONFIG` (a mapping; a service reads its own section plus the shared top level), and
environment variables. A malformed value stops the service at startup with the variable's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, Self

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from codecascade.core.errors import InvalidInput

__all__ = [
    "CONFIG_FILE_ENV",
    "DEFAULT_LB_POLICY",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ChannelOptions",
    "ConfigError",
    "LbPolicy",
    "ServiceSettings",
    "read_yaml_mapping",
]

CONFIG_FILE_ENV = "CODECASCADE_CONFIG"
DEFAULT_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024

LbPolicy = Literal["round_robin", "pick_first"]
DEFAULT_LB_POLICY: Final[LbPolicy] = "round_robin"


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """How a mesh client dials a peer (`codecascade.mesh.channels.open_channel`);
    `ServiceSettings.channel_options()` builds it from GRPC_LB_POLICY and MAX_MESSAGE_BYTES.
    Kept here, not in `channels`, so settings modules import no grpc."""

    lb_policy: LbPolicy = DEFAULT_LB_POLICY
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


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
        default=DEFAULT_MAX_MESSAGE_BYTES,
        ge=1024,
        description="Largest gRPC message accepted or sent.",
    )
    shutdown_grace_s: float = Field(
        default=10.0, ge=0, description="Seconds in-flight calls get to finish on SIGTERM."
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    max_connection_age_s: float = Field(
        default=60.0,
        ge=0,
        description=(
            "Seconds after which the server asks a client to reconnect (gRPC GOAWAY, +-10 %"
            " jitter), so clients resolve the peer's name again and spread calls over new"
            " replicas; 0 keeps connections for ever."
        ),
    )
    max_connection_age_grace_s: float = Field(
        default=300.0,
        ge=0,
        description=(
            "Seconds calls in flight on an aged connection get to finish before it is closed;"
            " covers the longest call in the mesh (test synthesis' request_deadline_s)."
        ),
    )
    grpc_lb_policy: LbPolicy = Field(
        default=DEFAULT_LB_POLICY,
        description=(
            "How this service's clients spread calls over a peer's addresses: round_robin"
            " (every ready pod behind a headless Service) or pick_first (one)."
        ),
    )

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

    def channel_options(self) -> ChannelOptions:
        """How this service dials its peers (`codecascade.mesh.channels.open_channel`)."""
        return ChannelOptions(self.grpc_lb_policy, self.max_message_bytes)

    def server_options(self) -> list[tuple[str, int]]:
        """gRPC server arguments: message limits and connection ageing."""
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            *self.connection_ageing_options(),
        ]

    def connection_ageing_options(self) -> list[tuple[str, int]]:
        """gRPC server arguments that send GOAWAY after `max_connection_age_s` (none when 0).
        Also used by the tier server, whose message limits are KServe's."""
        if self.max_connection_age_s <= 0:
            return []
        return [
            ("grpc.max_connection_age_ms", round(self.max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", round(self.max_connection_age_grace_s * 1000)),
        ]

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
