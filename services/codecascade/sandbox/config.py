"""Sandbox service settings (environment variables are the field names in upper case)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from codecascade.mesh.settings import ServiceSettings

__all__ = ["SandboxSettings"]


class SandboxSettings(ServiceSettings):
    """How the sandbox runs code, and the maxima no request can exceed."""

    config_section: ClassVar[str] = "sandbox"

    grpc_port: int = Field(default=50061, ge=0, le=65535, description="gRPC listen port.")
    sandbox_backend: Literal["runsc", "pod", "process"] = Field(
        default="runsc", description="Isolation: gVisor (runsc), a gVisor pod, or insecure process."
    )
    sandbox_allow_insecure: bool = Field(
        default=False, description="Must be true for the 'process' backend (development only)."
    )
    runsc_path: str = Field(default="runsc", description="The runsc binary.")
    runsc_platform: str = Field(
        default="ptrace", description="gVisor platform (ptrace works here)."
    )
    sandbox_state_dir: Path = Field(
        default=Path("/run/codecascade/sandbox"),
        description="runsc --root and bundle directory; the reaper owns everything under it.",
    )
    sandbox_python: str = Field(
        default="/usr/bin/python3", description="Interpreter inside the sandbox (from /usr)."
    )
    pool_size: int = Field(default=2, ge=0, le=64, description="Pre-started sandboxes kept warm.")
    pool_wait_s: float = Field(
        default=5.0, ge=0, description="How long a request waits for a free sandbox."
    )
    max_concurrency: int = Field(default=4, ge=1, description="Requests executing at once.")
    max_solutions: int = Field(default=32, ge=1, description="Most solutions in one request.")
    max_tests: int = Field(default=128, ge=1, description="Most tests in one request.")
    max_code_bytes: int = Field(default=64 * 1024, ge=1, description="Largest single solution.")
    max_test_bytes: int = Field(default=8 * 1024, ge=1, description="Largest single test.")
    max_request_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1, description="Largest total code in one request."
    )
    default_test_timeout_s: float = Field(default=3.0, gt=0, description="Per-test timeout.")
    max_test_timeout_s: float = Field(default=10.0, gt=0, description="Per-test timeout cap.")
    default_memory_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="Per solution.")
    max_memory_bytes: int = Field(default=1024 * 1024 * 1024, gt=0, description="Memory cap.")
    default_output_bytes: int = Field(default=4096, ge=0, description="Output kept per test.")
    max_output_bytes: int = Field(default=64 * 1024, ge=0, description="Output kept cap.")
    sandbox_parallel: int = Field(
        default=2, ge=1, le=16, description="Solutions run at once inside one sandbox (forks)."
    )
    sandbox_prefork: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Children each pooled sandbox forks while it waits; unset: 2 x parallel.",
    )
    sandbox_pids_limit: int = Field(
        default=512,
        ge=64,
        description="pids cgroup limit per sandbox; runsc's own threads count under ptrace.",
    )
    sandbox_start_timeout_s: float = Field(
        default=20.0, gt=0, description="How long a sandbox may take to boot and report ready."
    )
    sandbox_reaper_interval_s: float = Field(
        default=30.0, gt=0, description="How often leftover sandboxes are looked for and removed."
    )
    request_deadline_s: float = Field(
        default=120.0,
        gt=0,
        description="Host-side deadline for one request when the caller sets none.",
    )

    @field_validator("sandbox_state_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # runsc resolves bundle and root paths itself; a relative path breaks sandbox start.
        return path.resolve()
