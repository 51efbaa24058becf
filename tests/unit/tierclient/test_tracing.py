from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from codecascade.core.sampling import SamplingParams
from codecascade.tierclient.errors import TierUnavailable
from codecascade.tierclient.tracing import TracedTierClient
from tests.doubles import ScriptedTier


@pytest.fixture
def traced() -> tuple[InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider


async def test_each_call_is_a_genai_inference_span(traced) -> None:
    exporter, provider = traced
    client = TracedTierClient(ScriptedTier(("a", "b")), tracer_provider=provider)
    params = SamplingParams(n=2, temperature=0.8, top_p=0.95, max_tokens=64, seed=3)
    await client.generate("prompt", params, timeout_s=5, prompt_format="chat")
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat m" and span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "oip-grpc"
    assert attributes["gen_ai.request.model"] == "m"
    assert attributes["gen_ai.request.choice.count"] == 2
    assert attributes["gen_ai.request.temperature"] == 0.8
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 20
    assert attributes["gen_ai.response.finish_reasons"] == ("stop", "stop")
    assert attributes["codecascade.tier"] == "S"
    assert "prompt" not in str(attributes.values())  # prompts stay off spans


async def test_failures_are_recorded_on_the_span(traced) -> None:
    exporter, provider = traced

    class Down(ScriptedTier):
        async def generate(self, prompt, params, *, timeout_s=None, prompt_format=None):
            raise TierUnavailable("gone")

    client = TracedTierClient(Down(()), tracer_provider=provider)
    with pytest.raises(TierUnavailable):
        await client.generate("p", SamplingParams(), prompt_format="raw")
    (span,) = exporter.get_finished_spans()
    assert span.name == "text_completion m"
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].name == "exception"
