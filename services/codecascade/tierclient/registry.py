"""The configured tiers as one typed list: what the router and test synthesis both read.

Each entry says where a tier is (protocol, address, model), what it costs, and whether it is an
instruction model (chat template) or a base model (raw completion). The list lives in the YAML
settings file under `tiers:` (or the TIERS environment variable, as JSON) and in the Helm values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from codecascade.core.sampling import PromptFormat
from codecascade.tierclient.client import TierClient, TierEndpoint, TierProtocol
from codecascade.tierclient.connect import connect
from codecascade.tierclient.tracing import TracedTierClient

__all__ = ["TierConfig", "TierRegistry"]


class TierConfig(BaseModel):
    """One tier endpoint as configured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", description="Tier name.")
    protocol: TierProtocol = Field(default="oip-grpc", description="oip-grpc or openai.")
    address: str = Field(min_length=1, description="host:port (oip-grpc) or base URL (openai).")
    model: str = Field(min_length=1, description="Model name the endpoint serves.")
    price_per_1k_tokens: float = Field(ge=0, description="Dollars per 1000 generated tokens.")
    prompt_format: PromptFormat = Field(
        default="chat", description="chat for instruction models, raw for base models."
    )
    timeout_s: float = Field(default=120.0, gt=0, description="Call deadline when none is set.")
    max_attempts: int = Field(default=3, ge=1, le=10, description="Tries on UNAVAILABLE.")
    api_key: str = Field(default="", description="Bearer token (openai protocol only).")

    def endpoint(self) -> TierEndpoint:
        return TierEndpoint(
            tier=self.name,
            protocol=self.protocol,
            address=self.address,
            model=self.model,
            price_per_1k_tokens=self.price_per_1k_tokens,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            api_key=self.api_key,
        )


class TierRegistry:
    """Clients for the configured tiers, opened once and shared by every request."""

    def __init__(self, configs: Sequence[TierConfig], clients: Mapping[str, TierClient]) -> None:
        self._configs = {c.name: c for c in configs}
        self._clients = dict(clients)

    @classmethod
    def connect_all(cls, configs: Sequence[TierConfig]) -> TierRegistry:
        """Clients for every configured tier, each traced with GenAI inference spans."""
        return cls(configs, {c.name: TracedTierClient(connect(c.endpoint())) for c in configs})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._configs)

    def config(self, name: str) -> TierConfig | None:
        return self._configs.get(name)

    def client(self, name: str) -> TierClient | None:
        return self._clients.get(name)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
