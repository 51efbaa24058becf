"""One tier specification: what every part of the project means by "a tier".

The router's and test synthesis's config (`tiers:` in the settings file, or TIERS as JSON), the
tier registry and its clients, `cascade up`'s mesh file, the evaluation cache and the Helm
chart's `tiers[]` (its values.schema.json is tested against this model) all read or write a
`TierSpec`. It says where a tier is (protocol, address, model), what it costs, which prompt
template it wants, and how long and how often to try it. Prices are configuration, never
constants in code.

A spec without an address is a tier `cascade up` (or `cascade eval`) serves itself: its `model`
is then what the local tier server loads (S, M, L or a GGUF path), and the started server fills
in the address.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from codecascade.core.sampling import PromptFormat

__all__ = ["TIER_NAME_PATTERN", "TierProtocol", "TierSpec"]

TierProtocol = Literal["oip-grpc", "openai"]
TIER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class TierSpec(BaseModel):
    """One tier as configured: where it is, what it costs, and how to call it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=TIER_NAME_PATTERN, description="Tier name, used by the policy.")
    protocol: TierProtocol = Field(default="oip-grpc", description="oip-grpc or openai.")
    address: str = Field(
        default="",
        description="host:port (oip-grpc) or base URL (openai); empty: a tier served locally.",
    )
    model: str = Field(min_length=1, description="Model name the endpoint serves.")
    price_per_1k_tokens: float = Field(ge=0, description="Dollars per 1000 generated tokens.")
    prompt_format: PromptFormat = Field(
        default="chat", description="chat for instruction models, raw for base models."
    )
    timeout_s: float = Field(default=120.0, gt=0, description="Call deadline when none is set.")
    max_attempts: int = Field(default=3, ge=1, le=10, description="Tries on UNAVAILABLE.")
    backoff_initial_s: float = Field(
        default=0.1, gt=0, description="First pause before retrying UNAVAILABLE."
    )
    backoff_max_s: float = Field(default=2.0, gt=0, description="Longest pause between tries.")
    api_key: str = Field(default="", description="Bearer token (openai protocol only).")
