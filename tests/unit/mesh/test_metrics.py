"""Trace exemplars: what the router and sandbox attach to their series (no sockets here)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.openmetrics.exposition import generate_latest

from codecascade.mesh.metrics import trace_exemplar


def test_no_exemplar_outside_a_span() -> None:
    assert trace_exemplar() is None


def test_no_exemplar_for_an_unsampled_trace() -> None:
    tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("t")
    with tracer.start_as_current_span("work"):
        assert trace_exemplar() is None


def test_exemplar_is_the_active_trace_id_and_shows_in_openmetrics() -> None:
    tracer = TracerProvider().get_tracer("t")
    registry = CollectorRegistry()
    latency = Histogram("work_seconds", "Work.", registry=registry, buckets=(1.0,))
    with tracer.start_as_current_span("work") as span:
        exemplar = trace_exemplar()
        latency.observe(0.5, exemplar=exemplar)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert exemplar == {"trace_id": trace_id}
    assert f'# {{trace_id="{trace_id}"}} 0.5' in generate_latest(registry).decode()
