"""Choosing the client implementation for a configured tier endpoint."""

from __future__ import annotations

from codecascade.tierclient.client import TierClient, TierEndpoint

__all__ = ["connect"]


def connect(endpoint: TierEndpoint) -> TierClient:
    """A client for `endpoint`; imports only the protocol library that endpoint needs."""
    if endpoint.protocol == "oip-grpc":
        from codecascade.tierclient.oip_client import OipTierClient

        return OipTierClient(endpoint)
    from codecascade.tierclient.openai_client import OpenAITierClient

    return OpenAITierClient(endpoint)
