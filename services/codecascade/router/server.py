"""Wiring for the router: policy, tier clients, test synthesis and sandbox channels, servicer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from codecascade.core.errors import Unavailable
from codecascade.mesh.channels import open_channel
from codecascade.mesh.health import is_serving
from codecascade.router.adapters import SandboxMatrixRunner, SynthesisAssertWriter
from codecascade.router.cascade import Cascade
from codecascade.router.config import RouterSettings
from codecascade.router.metrics import RouterMetrics
from codecascade.router.policy import CascadePolicy
from codecascade.router.servicer import CascadeServicer
from codecascade.router.solutions import TierSolutionWriter
from codecascade.tierclient.registry import TierRegistry
from codecascade.v1 import cascade_service_pb2, cascade_service_pb2_grpc

__all__ = ["RouterService"]

_log = logging.getLogger(__name__)


class RouterService:
    """The router as a `codecascade.mesh.server.Service`: SERVING once its peers are."""

    def __init__(
        self,
        settings: RouterSettings,
        policy: CascadePolicy,
        tiers: TierRegistry,
        *,
        registry: CollectorRegistry | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        policy.check_tiers(tiers.names)
        self._settings = settings
        self._tiers = tiers
        self._testsynth = open_channel(settings.testsynth_addr)
        self._sandbox = open_channel(settings.sandbox_addr)
        self.cascade = Cascade(
            policy,
            TierSolutionWriter(tiers),
            SynthesisAssertWriter(
                self._testsynth, max_tests=settings.max_tests, tracer_provider=tracer_provider
            ),
            SandboxMatrixRunner(self._sandbox, test_timeout_s=settings.sandbox_test_timeout_s),
            observers=(RouterMetrics.create(registry).observe,) if registry is not None else (),
            tracer_provider=tracer_provider,
        )

    @property
    def service_names(self) -> Sequence[str]:
        return (cascade_service_pb2.DESCRIPTOR.services_by_name["CascadeService"].full_name,)

    def register(self, server: grpc.aio.Server) -> None:
        cascade_service_pb2_grpc.add_CascadeServiceServicer_to_server(
            CascadeServicer(self.cascade), server
        )

    async def start(self) -> None:
        """Waits until test synthesis and the sandbox are SERVING (tiers may scale from zero)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.dependency_wait_s
        for name, channel in (("testsynth", self._testsynth), ("sandbox", self._sandbox)):
            while not await is_serving(channel, timeout_s=2.0):
                if loop.time() > deadline:
                    raise Unavailable(f"{name} did not become SERVING; check its address and logs")
                await asyncio.sleep(0.5)
        _log.info("dependencies ready", extra={"tiers": list(self._tiers.names)})

    async def stop(self) -> None:
        await self._testsynth.close()
        await self._sandbox.close()
        await self._tiers.close()
