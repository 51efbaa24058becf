"""setup_telemetry follows the SDK's own OTEL_* rules (each case in a fresh process: the global
tracer provider can be set once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
from opentelemetry import trace
from codecascade.core.errors import InvalidInput
from codecascade.mesh.telemetry import setup_telemetry
try:
    telemetry = setup_telemetry("svc-default")
except InvalidInput as exc:
    print("INVALID", exc)
    raise SystemExit(0)
with trace.get_tracer("t").start_as_current_span("work", attributes={"k": 1}):
    pass
print("PROVIDER", type(trace.get_tracer_provider()).__name__)
telemetry.shutdown()
"""


def _run(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def _spans(stdout: str) -> list[dict[str, object]]:
    """The console exporter's JSON objects (one per span, pretty-printed)."""
    decoder, spans, at = json.JSONDecoder(), [], stdout.find("{")
    while at >= 0:
        span, end = decoder.raw_decode(stdout, at)
        spans.append(span)
        at = stdout.find("{", end)
    return spans


def test_console_exporter_prints_spans_with_the_default_service_name() -> None:
    out = _run(OTEL_TRACES_EXPORTER="console")
    (span,) = _spans(out)
    assert span["name"] == "work" and span["attributes"] == {"k": 1}
    resource = span["resource"]
    assert isinstance(resource, dict)
    assert resource["attributes"]["service.name"] == "svc-default"


def test_service_name_and_resource_from_the_environment_win() -> None:
    out = _run(
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="router-7",
        OTEL_RESOURCE_ATTRIBUTES="service.namespace=codecascade",
    )
    (span,) = _spans(out)
    resource = span["resource"]
    assert isinstance(resource, dict)
    assert resource["attributes"]["service.name"] == "router-7"
    assert resource["attributes"]["service.namespace"] == "codecascade"


def test_no_exporter_without_an_endpoint_but_a_real_provider() -> None:
    out = _run()
    assert _spans(out) == [] and "PROVIDER TracerProvider" in out


def test_sampler_from_the_environment() -> None:
    assert _spans(_run(OTEL_TRACES_EXPORTER="console", OTEL_TRACES_SAMPLER="always_off")) == []


def test_an_unknown_exporter_is_a_clear_configuration_error() -> None:
    out = _run(OTEL_TRACES_EXPORTER="zipkin_nonexistent")
    assert out.startswith("INVALID") and "OTEL_TRACES_EXPORTER takes" in out
