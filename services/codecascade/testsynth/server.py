"""Wiring for test synthesis: settings -> tier clients -> synthesizer -> servicer."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from codecascade.testsynth.config import SynthesisSettings
from codecascade.testsynth.servicer import SynthesisServicer
from codecascade.testsynth.synthesis import AssertSynthesizer
from codecascade.tierclient.registry import TierRegistry
from codecascade.v1 import testsynth_service_pb2, testsynth_service_pb2_grpc

__all__ = ["SynthesisService"]


class SynthesisService:
    """Test synthesis as a `codecascade.mesh.server.Service`."""

    def __init__(self, settings: SynthesisSettings, tiers: TierRegistry) -> None:
        self._settings = settings
        self._tiers = tiers

    @property
    def service_names(self) -> Sequence[str]:
        return (testsynth_service_pb2.DESCRIPTOR.services_by_name["TestSynthService"].full_name,)

    def register(self, server: grpc.aio.Server) -> None:
        testsynth_service_pb2_grpc.add_TestSynthServiceServicer_to_server(
            SynthesisServicer(self._settings, AssertSynthesizer(self._tiers)), server
        )

    async def start(self) -> None:
        # Tiers may scale from zero and come up later: the service is ready without them, and
        # a request to a tier that is down fails with UNAVAILABLE.
        return None

    async def stop(self) -> None:
        await self._tiers.close()
