"""Choosing the client implementation for a configured tier."""

from __future__ import annotations

from codecascade.core.tiers import TierSpec
from codecascade.tierclient.client import TierClient

__all__ = ["connect"]


def connect(spec: TierSpec) -> TierClient:
    """A client for `spec`; imports only the protocol library that tier needs."""
    if spec.protocol == "oip-grpc":
        from codecascade.tierclient.oip_client import OipTierClient

        return OipTierClient(spec)
    from codecascade.tierclient.openai_client import OpenAITierClient

    return OpenAITierClient(spec)
