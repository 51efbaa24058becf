"""Router settings (environment variables are the field names in upper case)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from codecascade.core.tiers import TierSpec
from codecascade.mesh.settings import ServiceSettings

__all__ = ["RouterSettings"]


class RouterSettings(ServiceSettings):
    """Where the router's dependencies are, and the policy it runs."""

    config_section: ClassVar[str] = "router"

    grpc_port: int = Field(default=50060, ge=0, le=65535, description="gRPC listen port.")
    testsynth_addr: str = Field(min_length=1, description="TestSynthService host:port.")
    sandbox_addr: str = Field(min_length=1, description="SandboxService host:port.")
    policy_file: Path = Field(description="The cascade policy YAML (see docs/policy.md).")
    tiers: list[TierSpec] = Field(
        default_factory=list, description="Tier endpoints (shared `tiers:` list in the file)."
    )
    sandbox_test_timeout_s: float = Field(
        default=3.0, gt=0, description="Per-test timeout for candidate solutions."
    )
    max_tests: int = Field(default=64, ge=1, description="Most tests per tier sent to the sandbox.")
    dependency_wait_s: float = Field(
        default=300.0, gt=0, description="How long start-up waits for test synthesis and sandbox."
    )
