"""Test-synthesis settings (environment variables are the field names in upper case)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from codecascade.core.tiers import TierSpec
from codecascade.mesh.settings import ServiceSettings
from codecascade.testsynth.agreement import DEFAULT_RULE, AgreementRule

__all__ = ["SynthesisSettings"]


class SynthesisSettings(ServiceSettings):
    """The tiers to ask for tests, and the bounds on what a request may ask for."""

    config_section: ClassVar[str] = "testsynth"

    grpc_port: int = Field(default=50062, ge=0, le=65535, description="gRPC listen port.")
    tiers: list[TierSpec] = Field(
        default_factory=list, description="Tier endpoints (shared `tiers:` list in the file)."
    )
    max_generations: int = Field(default=16, ge=1, description="Most test generations t.")
    max_lines: int = Field(default=10, ge=1, description="Most assert lines l per generation.")
    default_max_tests: int = Field(default=64, ge=1, description="Test cap when none is asked.")
    min_support: int = Field(
        default=DEFAULT_RULE.min_support,
        ge=1,
        description="Test generations that must write an assert before it is kept (capped at t).",
    )
    max_lone_argument_chars: int = Field(
        default=DEFAULT_RULE.max_lone_argument_chars,
        ge=0,
        description="An assert fewer generations wrote is still kept if its input is this short.",
    )

    @property
    def agreement(self) -> AgreementRule:
        return AgreementRule(self.min_support, self.max_lone_argument_chars)

    max_prompt_bytes: int = Field(default=32 * 1024, ge=1, description="Largest task prompt.")
    request_deadline_s: float = Field(
        default=300.0, gt=0, description="Deadline for the tier call when the caller sets none."
    )
