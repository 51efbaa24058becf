"""Runs one async gRPC service: health, reflection, interceptors, metrics, graceful shutdown.

A service is anything that can register its servicers and bring its resources up and down (the
`Service` protocol). The runner reports NOT_SERVING until `start()` returns (pools warm, clients
ready), SERVING after, and on SIGTERM flips back to NOT_SERVING, lets in-flight calls finish for
the grace period, then stops the service. Tests use `running_server` on port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from codecascade.mesh.interceptors import ServerInterceptor
from codecascade.mesh.metrics import MetricsEndpoint, RpcMetrics
from codecascade.mesh.settings import ServiceSettings
from codecascade.mesh.telemetry import rpc_server_interceptor

__all__ = ["RunningServer", "Service", "running_server", "serve_forever"]

_log = logging.getLogger(__name__)


class Service(Protocol):
    """What the runner needs from a service."""

    @property
    def service_names(self) -> Sequence[str]:
        """Full proto names of the gRPC services registered (for health and reflection)."""
        ...

    def register(self, server: grpc.aio.Server) -> None:
        """Adds the servicers to the server."""

    async def start(self) -> None:
        """Brings resources up; the service reports SERVING only after this returns."""

    async def stop(self) -> None:
        """Releases resources after the server has stopped taking calls."""


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started server: where it listens and how to reach its health state."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    registry: CollectorRegistry
    metrics_port: int | None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def running_server(
    settings: ServiceSettings,
    service: Service,
    *,
    tracer_provider: TracerProvider | None = None,
    registry: CollectorRegistry | None = None,
) -> AsyncIterator[RunningServer]:
    """Starts the service's server, yields it SERVING, and stops it gracefully on exit.

    `registry` is the Prometheus registry /metrics serves; a service with instruments of its
    own (the router's escalations) registers them in the same one.
    """
    registry = registry if registry is not None else CollectorRegistry()
    # Connection ageing (settings.max_connection_age_s) makes clients re-resolve and spread
    # over new replicas: docs/load-balancing.md.
    options: list[tuple[str, int]] = [*settings.server_options(), ("grpc.so_reuseport", 0)]
    server = grpc.aio.server(
        # The instrumentation's span first: ours runs inside it (codecascade.mesh.interceptors).
        interceptors=[
            rpc_server_interceptor(tracer_provider),
            ServerInterceptor(RpcMetrics.create(registry)),
        ],
        options=options,
    )
    service.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*service.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    for name in ("", *service.service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
    if port == 0:
        raise OSError(f"cannot listen on {settings.grpc_host}:{settings.grpc_port}")
    endpoint = (
        MetricsEndpoint(registry, settings.grpc_host, settings.metrics_port)
        if settings.metrics_port
        else None
    )
    await server.start()
    try:
        await service.start()
        for name in ("", *service.service_names):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        yield RunningServer(
            server, port, health_servicer, registry, endpoint.port if endpoint else None
        )
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(settings.shutdown_grace_s)
        await service.stop()
        if endpoint is not None:
            endpoint.close()


async def serve_forever(
    settings: ServiceSettings, service: Service, registry: CollectorRegistry | None = None
) -> None:
    """Serves until SIGTERM or SIGINT, then shuts down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_server(settings, service, registry=registry) as running:
        _log.info(
            "serving",
            extra={
                "services": list(service.service_names),
                "address": f"{settings.grpc_host}:{running.port}",
                "metrics_port": running.metrics_port,
            },
        )
        await stop.wait()
        _log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
