"""OpenTelemetry from the SDK's own OTEL_* handling, and RPC spans from gRPC's instrumentation.

The tracer provider is built by the OpenTelemetry distro's configurator
(`opentelemetry.distro.OpenTelemetryConfigurator`, the SDK's `_OTelSDKConfigurator`), the same
code `opentelemetry-instrument` runs: every standard variable is honoured as the specification
and the SDK define it, not a hand-picked subset. `OTEL_TRACES_EXPORTER` takes any registered
exporter, comma-separated (`otlp`, `otlp_proto_http`, `otlp_proto_grpc`, `console`, `none`);
`OTEL_EXPORTER_OTLP_*` (endpoint, protocol, headers, timeout, per-signal variants),
`OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`,
`OTEL_SDK_DISABLED` and `OTEL_LOGS_EXPORTER` work as documented upstream.

Two defaults are ours, both only for variables left unset, so the Helm chart (which sets an
endpoint and no exporter) and a developer shell (which sets nothing) behave:
- `OTEL_TRACES_EXPORTER` unset: `otlp` when an OTLP endpoint is configured, else no exporter
  (the specification's default `otlp` would make every test and laptop run retry a collector on
  localhost:4317). Spans still carry trace ids into logs and across services.
- `service.name`: the service's own name when neither OTEL_SERVICE_NAME nor
  OTEL_RESOURCE_ATTRIBUTES names one.

Metrics are prometheus_client instruments scraped from /metrics (`codecascade.mesh.metrics`),
because only its OpenMetrics output carries exemplars; `OTEL_METRICS_EXPORTER` is still honoured
by the SDK, but nothing of ours records into an OTel meter.

gRPC: `rpc_server_interceptor` and `rpc_client_interceptors` are opentelemetry-instrumentation-
grpc's aio interceptors: they extract and inject the W3C context (the global propagator,
`OTEL_PROPAGATORS`) in call metadata and record a SERVER / CLIENT span per call. Health checks
and reflection are left out: probes would drown the data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.grpc import filters as grpc_filters
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.trace import TracerProvider

from codecascade.core.errors import InvalidInput

__all__ = [
    "UNTRACED_SERVICE_PREFIXES",
    "Telemetry",
    "context_from_metadata",
    "inject_metadata",
    "rpc_client_interceptors",
    "rpc_server_interceptor",
    "setup_telemetry",
]

_log = logging.getLogger(__name__)

# Infrastructure services: served but neither traced nor counted.
UNTRACED_SERVICE_PREFIXES = ("grpc.health.v1.", "grpc.reflection.")


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The tracer provider a process exports through; shut down on exit to flush buffered spans."""

    tracer_provider: TracerProvider

    def shutdown(self) -> None:
        shutdown = getattr(self.tracer_provider, "shutdown", None)
        if shutdown is not None:  # the SDK's provider; the API's no-op one has nothing to flush
            shutdown()


def _otlp_endpoint_configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _names_service() -> bool:
    if os.environ.get("OTEL_SERVICE_NAME"):
        return True
    pairs = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
    return any(pair.split("=", 1)[0].strip() == SERVICE_NAME for pair in pairs)


def setup_telemetry(default_service_name: str) -> Telemetry:
    """Installs the global tracer provider from the OTEL_* environment; call once per process,
    from its entry point (the global provider can be set only once)."""
    # Imported here: the configurator imports the exporters the environment names.
    from opentelemetry.distro import OpenTelemetryConfigurator

    options: dict[str, Any] = {}
    if not _names_service():
        options["resource_attributes"] = {SERVICE_NAME: default_service_name}
    if _otlp_endpoint_configured():
        # Through the variable, so the SDK maps `otlp` to the protocol's exporter itself.
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
    try:
        # The distro and the instrumentation ship no type information.
        OpenTelemetryConfigurator().configure(**options)  # type: ignore[no-untyped-call]
    except (RuntimeError, ValueError) as exc:  # an exporter, sampler or protocol not known
        raise InvalidInput(
            f"the OTEL_* telemetry settings are not usable: {exc} (OTEL_TRACES_EXPORTER takes "
            "otlp, otlp_proto_grpc, otlp_proto_http, console or none, comma-separated)"
        ) from exc
    _log.debug(
        "telemetry configured",
        extra={"traces_exporter": os.environ.get("OTEL_TRACES_EXPORTER", "")},
    )
    return Telemetry(trace.get_tracer_provider())


def _traced_call() -> Callable[[Any], bool]:
    traced: Callable[[Any], bool] = grpc_filters.negate(
        grpc_filters.any_of(*(grpc_filters.service_prefix(p) for p in UNTRACED_SERVICE_PREFIXES))
    )
    return traced


def rpc_server_interceptor(tracer_provider: TracerProvider | None = None) -> Any:
    """The SERVER span of every call, parented on the caller's context from its metadata."""
    return aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider, filter_=_traced_call()
    )


def rpc_client_interceptors(tracer_provider: TracerProvider | None = None) -> list[Any]:
    """A CLIENT span for every outgoing call, whose context the call's metadata carries."""
    interceptors = aio_client_interceptors(  # type: ignore[no-untyped-call]
        tracer_provider=tracer_provider, filter_=_traced_call()
    )
    return list(interceptors)


def inject_metadata(context: Context | None = None) -> list[tuple[str, str]]:
    """W3C traceparent/tracestate/baggage as metadata pairs, for a call made by a client that
    takes no interceptors (tritonclient's OIP client takes `headers`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return list(carrier.items())


def context_from_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> Context:
    """The remote parent context carried by incoming headers or metadata, for servers the gRPC
    instrumentation does not wrap (the OpenAI edge's HTTP, KServe's predictor)."""
    carrier: Mapping[str, str] = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
    return propagate.extract(carrier)
