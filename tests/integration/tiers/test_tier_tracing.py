"""The tier server's own telemetry, from a real S server: its SERVER span continues the caller's
trace (context over the OIP gRPC metadata), with GenAI attributes and the engine's phases as child
spans, and one JSON log line per call, answered or failed.

The server exports with the SDK's console exporter (OTEL_TRACES_EXPORTER=console), so the spans
are read back from its output exactly as the SDK wrote them.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codecascade.core.sampling import SamplingParams
from codecascade.mesh.context import CallIdentity, set_identity
from codecascade.tierclient.errors import TierRejected
from codecascade.tierclient.oip_client import OipTierClient
from codecascade.tierclient.tracing import TracedTierClient
from tests.integration.tiers.tier_helpers import TierServer


def _objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in the server's output (console spans span lines; logs are one line)."""
    decoder, found, at = json.JSONDecoder(), [], text.find("{")
    while at >= 0:
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at = text.find("{", at + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        at = text.find("{", end)
    return found


def _stopped_output(server: TierServer) -> str:
    """SIGTERM (KServe's graceful stop, which lets the SDK flush its spans), then the output."""
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=30)
    return server.output()


async def test_tier_spans_continue_the_callers_trace(
    start_tier: Callable[..., TierServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "tier-S")
    server = start_tier("S")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = TracedTierClient(OipTierClient(server.spec()), tracer_provider=provider)
    token = set_identity(CallIdentity("acme", "req-trace-1"))
    started = time.monotonic()
    try:
        await client.generate(
            "Write a Python function that returns x squared.",
            SamplingParams(n=2, temperature=0.8, top_p=0.95, max_tokens=8, seed=3),
        )
        with pytest.raises(TierRejected):
            await client.generate("hi", SamplingParams(n=1, max_tokens=999_999))
    finally:
        set_identity(None)
        del token
        await client.close()
    assert time.monotonic() - started < 30
    answered_client, failed_client = exporter.get_finished_spans()
    objects = _objects(_stopped_output(server))
    spans = [o for o in objects if "context" in o and "kind" in o]
    calls = [o for o in objects if o.get("logger") == "codecascade.tierserver.model.calls"]

    trace_id = f"0x{answered_client.context.trace_id:032x}"
    served = [s for s in spans if s["context"]["trace_id"] == trace_id]
    by_name = {s["name"]: s for s in served}
    call = by_name["inference.GRPCInferenceService/ModelInfer"]
    assert call["kind"] == "SpanKind.SERVER"
    assert call["parent_id"] == f"0x{answered_client.context.span_id:016x}"
    assert call["resource"]["attributes"]["service.name"] == "tier-S"
    attributes = call["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "S"
    assert attributes["gen_ai.request.choice.count"] == 2
    assert attributes["gen_ai.usage.input_tokens"] > 10
    assert attributes["gen_ai.usage.output_tokens"] == 16
    assert attributes["codecascade.tenant"] == "acme"
    assert attributes["codecascade.request_id"] == "req-trace-1"
    phases = [by_name[name] for name in ("queue_wait", "prompt_evaluation", "decoding")]
    assert all(p["parent_id"] == call["context"]["span_id"] for p in phases)
    assert [p["start_time"] for p in phases] == sorted(p["start_time"] for p in phases)
    assert phases[1]["attributes"]["gen_ai.usage.input_tokens"] > 10
    assert phases[2]["attributes"]["gen_ai.usage.output_tokens"] == 16

    failed = next(
        s
        for s in spans
        if s["context"]["trace_id"] == f"0x{failed_client.context.trace_id:032x}"
        and s["kind"] == "SpanKind.SERVER"
    )
    assert failed["status"]["status_code"] == "ERROR"
    assert "max_tokens" in failed["status"]["description"]

    ok_line, failed_line = calls
    assert ok_line["grpc_code"] == "OK" and ok_line["tenant"] == "acme"
    assert ok_line["rpc_method"] == "/inference.GRPCInferenceService/ModelInfer"
    assert ok_line["trace_id"] == trace_id.removeprefix("0x") and ok_line["duration_ms"] > 0
    assert failed_line["grpc_code"] == "INVALID_ARGUMENT" and failed_line["severity"] == "WARNING"
