"""Prometheus metrics shared by every gRPC server, and the /metrics endpoint.

prometheus_client (not OTel's Prometheus reader) serves /metrics because only it emits exemplars,
which tie a latency bucket to a trace id. Each server owns its registry: no process globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

__all__ = ["MetricsEndpoint", "RpcMetrics"]


@dataclass(frozen=True, slots=True)
class RpcMetrics:
    """Per-method call counts and latency, labelled by the status code returned."""

    handled: Counter
    duration: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> RpcMetrics:
        return cls(
            handled=Counter(
                "codecascade_rpc_server_handled",
                "gRPC calls completed by the server, by method and status code.",
                ["method", "code"],
                registry=registry,
            ),
            duration=Histogram(
                "codecascade_rpc_server_duration_seconds",
                "Time from receiving a gRPC call to its status, by method.",
                ["method"],
                registry=registry,
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            ),
        )


class MetricsEndpoint:
    """An HTTP /metrics server on its own thread (prometheus_client's WSGI server)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._server: WSGIServer
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
