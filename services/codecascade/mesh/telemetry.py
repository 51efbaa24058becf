"""OpenTelemetry tracing from the standard OTEL_* variables, and W3C context over gRPC metadata.

Only the standard variables configure telemetry (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_EXPORTER, ...), so the
Helm chart sets them once for every component. Without an endpoint nothing is exported, but spans
still carry trace ids into logs and across services.

Only traces go through OTel. Metrics are prometheus_client instruments scraped from /metrics
(`codecascade.mesh.metrics`), because only its OpenMetrics output carries exemplars; so no OTel
MeterProvider is set up: nothing would record into it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

__all__ = ["Telemetry", "context_from_metadata", "inject_metadata", "setup_telemetry"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The tracer provider a process exports through; shut down on exit to flush buffered spans."""

    tracer_provider: TracerProvider

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()


def _otlp_configured(signal: str) -> bool:
    if os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    )


def _http_protocol(signal: str) -> bool:
    protocol = os.environ.get(
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL",
        os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    )
    return protocol.lower().startswith("http")


def _span_exporter() -> SpanExporter:
    if _http_protocol("traces"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcSpanExporter,
    )

    return GrpcSpanExporter()


def setup_telemetry(default_service_name: str) -> Telemetry:
    """Installs the global tracer provider; call once, from a service's entry point."""
    attributes: dict[str, str] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = default_service_name
    tracer_provider = TracerProvider(resource=Resource.create(attributes))
    exporting = _otlp_configured("traces")
    if exporting:
        tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter()))
    trace.set_tracer_provider(tracer_provider)
    _log.debug("telemetry configured", extra={"exporting": exporting})
    return Telemetry(tracer_provider)


def inject_metadata(context: Context | None = None) -> list[tuple[str, str]]:
    """W3C traceparent/tracestate/baggage for an outgoing call, as gRPC metadata pairs."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return list(carrier.items())


def context_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Context:
    """The remote parent context carried by an incoming call's metadata."""
    carrier: Mapping[str, str] = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
    return propagate.extract(carrier)
