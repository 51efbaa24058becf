"""Router settings (environment variables are the field names in upper case)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, PositiveInt, model_validator

from codecascade.core.tiers import TierSpec
from codecascade.mesh.settings import ServiceSettings

__all__ = ["RouterSettings"]

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


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
    tenants_file: Path | None = Field(
        default=None,
        description="The tenants file (docs/tenancy.md); unset: auth off, with a warning.",
    )
    ledger_store: Literal["memory", "redis"] = Field(
        default="memory",
        description="Where spend and rate limits are kept: memory (one replica) or redis.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="The ledger's Redis (ledger_store redis)."
    )
    redis_password: str = Field(default="", description="Redis password; empty: none.")
    redis_timeout_s: float = Field(
        default=2.0, gt=0, description="Per-command Redis timeout; past it the edge fails closed."
    )
    admission_slots: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description="Calls in flight per tier (tier name -> slots); a tier not named is "
        "admitted freely. Beyond the slots, calls wait in a weighted fair queue.",
    )
    admission_max_queue: int = Field(
        default=64, ge=0, description="Calls waiting per tier; beyond it: RESOURCE_EXHAUSTED."
    )
    admission_max_wait_s: float = Field(
        default=30.0, gt=0, description="Longest a call waits for a tier slot before it is shed."
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain of the public TLS port; unset: no TLS."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key for it.")
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle: every TLS client must then present a certificate it "
        "verifies (mTLS); one registered in the tenants file names its tenant.",
    )
    tls_host: str = Field(default="0.0.0.0", description="Address the public TLS port binds.")
    tls_port: int = Field(default=50061, ge=0, le=65535, description="The public TLS port.")
    http_enabled: bool = Field(
        default=True, description="Serve the OpenAI-compatible HTTP API (docs/openai.md)."
    )
    http_host: str = Field(
        default="127.0.0.1",
        description="Address the OpenAI-compatible HTTP API binds (0.0.0.0 in a cluster).",
    )
    http_port: int = Field(
        default=8000, ge=0, le=65535, description="Port of the OpenAI-compatible HTTP API."
    )
    policies: dict[str, Path] = Field(
        default_factory=dict,
        description="Named policies (model name -> policy file) served besides the router's "
        "own (`cascade`), e.g. calibrated budget points; each is a `model` of the HTTP API.",
    )
    test_tokens_overhead: int = Field(
        default=64, ge=0, description="Test synthesis's token cap per generation, fixed part."
    )
    test_tokens_per_line: int = Field(
        default=48, ge=0, description="Test synthesis's token cap per generation, per line."
    )

    @model_validator(mode="after")
    def _policy_names(self) -> Self:
        for name in self.policies:
            if name == "cascade" or not _MODEL_NAME.match(name):
                raise ValueError(
                    f"policy name {name!r}: 1-64 letters, digits, '.', '_', ':' or '-', and not "
                    "'cascade' (the router's own policy)"
                )
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither")
        if self.tls_cert_file is None and self.tls_client_ca_file is not None:
            raise ValueError("client certificates (mTLS) need TLS_CERT_FILE and TLS_KEY_FILE")
        return self
