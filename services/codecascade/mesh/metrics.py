"""Prometheus metrics shared by every gRPC server, the /metrics endpoint, and trace exemplars.

prometheus_client (not OTel's Prometheus reader) serves /metrics because only it emits exemplars,
which tie a latency bucket or a counter increment to a trace id. Exemplars exist only in the
OpenMetrics format, which the endpoint serves to a scraper that asks for it (`Accept:
application/openmetrics-text`, what Prometheus sends when exemplar storage is on); other clients get
the classic text format, which has no exemplars. Each server owns its registry: no process globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

__all__ = ["MetricsEndpoint", "RpcMetrics", "trace_exemplar"]


def trace_exemplar() -> dict[str, str] | None:
    """The active span's trace id as an exemplar (`{"trace_id": <32 hex>}`), or None.

    Pass it as `exemplar=` to `Counter.inc` or `Histogram.observe` while the span of the work
    being counted is current. None when there is no sampled span: an exemplar pointing at a trace
    that was never exported would lead nowhere.
    """
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return {"trace_id": trace.format_trace_id(context.trace_id)}


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
    """An HTTP /metrics server on its own thread (prometheus_client's WSGI server).

    The server negotiates the format from the request's Accept header: OpenMetrics (with
    exemplars) when asked for, the Prometheus text format otherwise. Port 0 picks a free port
    (tests); `port` says which.
    """

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
