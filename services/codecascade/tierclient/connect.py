"""Opening clients for configured tiers: the one place a protocol library is chosen.

Only the wiring (`__main__` modules, the CLI) calls this; domain code receives the resulting
`TierRegistry` and never imports tritonclient or httpx through it.
"""

from __future__ import annotations

from collections.abc import Sequence

from codecascade.core.errors import InvalidInput
from codecascade.core.tiers import TierSpec
from codecascade.mesh.channels import ChannelOptions
from codecascade.tierclient.client import TierClient
from codecascade.tierclient.registry import TierRegistry
from codecascade.tierclient.tracing import TracedTierClient

__all__ = ["connect", "connect_registry"]


def connect(spec: TierSpec, channel_options: ChannelOptions | None = None) -> TierClient:
    """A client for `spec`; imports only the protocol library that tier needs.

    `channel_options` (the service's GRPC_LB_POLICY and message size) shape OIP v2 channels;
    None keeps the mesh defaults (round_robin over every address the name resolves to).
    """
    if spec.protocol == "oip-grpc":
        from codecascade.tierclient.oip_client import OipTierClient

        return OipTierClient(spec, channel_options=channel_options)
    from codecascade.tierclient.openai_client import OpenAITierClient

    return OpenAITierClient(spec)


def connect_registry(
    specs: Sequence[TierSpec], channel_options: ChannelOptions | None = None
) -> TierRegistry:
    """Clients for every configured tier, each traced with GenAI inference spans.

    Raises InvalidInput for a tier without an address: only `cascade up` serves such a tier
    itself, and it fills the address in before anything connects.
    """
    missing = [s.name for s in specs if not s.address]
    if missing:
        raise InvalidInput(f"tiers {', '.join(missing)} have no address to connect to")
    clients = {s.name: TracedTierClient(connect(s, channel_options)) for s in specs}
    return TierRegistry(specs, clients)
