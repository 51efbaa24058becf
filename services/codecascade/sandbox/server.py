"""Wiring for the sandbox service: settings -> backend -> servicer -> the shared runner."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import Backend
from codecascade.sandbox.servicer import SandboxServicer
from codecascade.v1 import sandbox_service_pb2, sandbox_service_pb2_grpc

__all__ = ["SandboxService"]


class SandboxService:
    """The sandbox as a `codecascade.mesh.server.Service`: serving once its backend is warm."""

    def __init__(self, settings: SandboxSettings, backend: Backend) -> None:
        self._settings = settings
        self._backend = backend

    @property
    def service_names(self) -> Sequence[str]:
        return (sandbox_service_pb2.DESCRIPTOR.services_by_name["SandboxService"].full_name,)

    def register(self, server: grpc.aio.Server) -> None:
        sandbox_service_pb2_grpc.add_SandboxServiceServicer_to_server(
            SandboxServicer(self._settings, self._backend), server
        )

    async def start(self) -> None:
        await self._backend.start()

    async def stop(self) -> None:
        await self._backend.close()
