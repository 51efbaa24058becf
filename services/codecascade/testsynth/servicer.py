"""TestSynthService over gRPC: proto in, domain request to the synthesizer, proto out."""

from __future__ import annotations

from typing import Any

import grpc

from codecascade.core.errors import InvalidInput
from codecascade.mesh.deadlines import remaining_s
from codecascade.mesh.wire import duration, problem_from_wire
from codecascade.testsynth.config import SynthesisSettings
from codecascade.testsynth.synthesis import AssertSynthesizer, SynthesisRequest, SynthesisResult
from codecascade.v1 import testsynth_service_pb2 as pb
from codecascade.v1 import testsynth_service_pb2_grpc as pb_grpc
from codecascade.v1 import usage_pb2

__all__ = ["SynthesisServicer", "result_to_proto"]


def result_to_proto(result: SynthesisResult) -> pb.SynthesizeTestsResponse:
    return pb.SynthesizeTestsResponse(
        tests=[
            pb.SynthesizedTest(
                code=t.code,
                tier=t.tier,
                generation_index=t.generation_index,
                origin=pb.TEST_ORIGIN_PROMPT_EXAMPLE if t.from_prompt else pb.TEST_ORIGIN_MODEL,
            )
            for t in result.tests
        ],
        dropped=[
            pb.DroppedTest(
                text=d.line.text, reason=d.line.reason, generation_index=d.generation_index
            )
            for d in result.dropped
        ],
        usage=usage_pb2.TokenUsage(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost_usd=result.cost_usd,
        ),
        model_latency=duration(result.latency_s),
    )


class SynthesisServicer(pb_grpc.TestSynthServiceServicer):
    """Validates each request's bounds and hands it to the synthesizer."""

    def __init__(self, settings: SynthesisSettings, synthesizer: AssertSynthesizer) -> None:
        self._settings = settings
        self._synthesizer = synthesizer

    def _bounded(self, name: str, value: int, most: int) -> int:
        if not 1 <= value <= most:
            raise InvalidInput(f"{name} must be between 1 and {most}; got {value}")
        return value

    async def SynthesizeTests(
        self, request: pb.SynthesizeTestsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SynthesizeTestsResponse:
        settings = self._settings
        if len(request.prompt.encode()) > settings.max_prompt_bytes:
            raise InvalidInput(f"the prompt is larger than {settings.max_prompt_bytes} bytes")
        problem = problem_from_wire(
            request.prompt, request.entry_point, request.example_test, request.style
        )
        synthesis = SynthesisRequest(
            problem=problem,
            tier=request.tier,
            generations=self._bounded("generations", request.generations, settings.max_generations),
            lines=self._bounded(
                "lines_per_generation", request.lines_per_generation, settings.max_lines
            ),
            max_tests=self._bounded(
                "max_tests", request.max_tests or settings.default_max_tests, 1024
            ),
            seed=request.seed if request.HasField("seed") else None,
            include_prompt_examples=not request.exclude_prompt_examples,
            agreement=settings.agreement,
        )
        deadline = remaining_s(context, default=settings.request_deadline_s)
        result = await self._synthesizer.synthesize(synthesis, timeout_s=deadline)
        return result_to_proto(result)
