"""Wiring for the sandbox service: settings -> metrics -> backend -> servicer -> the runner."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from prometheus_client import CollectorRegistry

from codecascade.sandbox.backends import build_backend
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import Backend, JobObserver
from codecascade.sandbox.metrics import SandboxMetrics
from codecascade.sandbox.servicer import SandboxServicer
from codecascade.v1 import sandbox_service_pb2, sandbox_service_pb2_grpc

__all__ = ["SandboxService", "build_service"]


class SandboxService:
    """The sandbox as a `codecascade.mesh.server.Service`: serving once its backend is warm."""

    def __init__(
        self, settings: SandboxSettings, backend: Backend, observer: JobObserver | None = None
    ) -> None:
        """`observer` hears of every finished job (the metrics; tests may leave it out)."""
        self._settings = settings
        self._backend = backend
        self._observer = observer

    @property
    def service_names(self) -> Sequence[str]:
        return (sandbox_service_pb2.DESCRIPTOR.services_by_name["SandboxService"].full_name,)

    def register(self, server: grpc.aio.Server) -> None:
        sandbox_service_pb2_grpc.add_SandboxServiceServicer_to_server(
            SandboxServicer(self._settings, self._backend, self._observer), server
        )

    async def start(self) -> None:
        await self._backend.start()

    async def stop(self) -> None:
        await self._backend.close()


def build_service(settings: SandboxSettings, registry: CollectorRegistry) -> SandboxService:
    """The configured backend and the service, both reporting to metrics on `registry`."""
    metrics = SandboxMetrics.create(registry)
    return SandboxService(settings, build_backend(settings, observer=metrics), observer=metrics)
