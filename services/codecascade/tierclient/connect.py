"""Opening clients for configured tiers: the one place a protocol library is chosen.

Only the wiring (`__main__` modules, the CLI) calls this; domain code receives the resulting
`TierRegistry` and never imports tritonclient or httpx through it.
"""

from __future__ import annotations

from collections.abc import Sequence

from codecascade.core.errors import InvalidInput
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.client import TierClient
from codecascade.tierclient.registry import TierRegistry
from codecascade.tierclient.tracing import TracedTierClient

__all__ = ["connect", "connect_registry"]


def connect(spec: TierSpec) -> TierClient:
    """A client for `spec`; imports only the protocol library that tier needs."""
    if spec.protocol == "oip-grpc":
        from codecascade.tierclient.oip_client import OipTierClient

        return OipTierClient(spec)
    from codecascade.tierclient.openai_client import OpenAITierClient

    return OpenAITierClient(spec)


def connect_registry(specs: Sequence[TierSpec]) -> TierRegistry:
    """Clients for every configured tier, each traced with GenAI inference spans.

    Raises InvalidInput for a tier without an address: only `cascade up` serves such a tier
    itself, and it fills the address in before anything connects.
    """
    missing = [s.name for s in specs if not s.address]
    if missing:
        raise InvalidInput(f"tiers {', '.join(missing)} have no address to connect to")
    return TierRegistry(specs, {s.name: TracedTierClient(connect(s)) for s in specs})
