"""The router's gRPC clients for test synthesis and the sandbox, behind the cascade's ports."""

from __future__ import annotations

import time

import grpc
from opentelemetry import trace
from opentelemetry.trace import SpanKind, TracerProvider

from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.mesh.errors import from_rpc_error
from codecascade.mesh.wire import seconds, style_to_wire
from codecascade.router.policy import TierPolicy
from codecascade.router.ports import AssertSet, Execution
from codecascade.v1 import sandbox_service_pb2 as sandbox_pb
from codecascade.v1 import sandbox_service_pb2_grpc as sandbox_grpc
from codecascade.v1 import testsynth_service_pb2 as testsynth_pb
from codecascade.v1 import testsynth_service_pb2_grpc as testsynth_grpc

__all__ = ["SandboxMatrixRunner", "SynthesisAssertWriter"]


class SynthesisAssertWriter:
    """A tier's own tests from the TestSynthService: t (default k) generations of l lines."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        max_tests: int = 64,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._stub = testsynth_grpc.TestSynthServiceStub(channel)
        self._max_tests = max_tests
        self._tracer = trace.get_tracer("codecascade.router", tracer_provider=tracer_provider)

    async def write_tests(
        self, tier: TierPolicy, problem: Problem, *, seed: int | None, timeout_s: float
    ) -> AssertSet:
        request = testsynth_pb.SynthesizeTestsRequest(
            prompt=problem.prompt,
            entry_point=problem.entry_point,
            style=style_to_wire(problem.style),
            example_test=problem.example_test,
            tier=tier.tier,
            generations=tier.generations,
            lines_per_generation=tier.test_lines,
            max_tests=self._max_tests,
            seed=seed,
        )
        # A client span, so the router's own time can be told apart from test synthesis's.
        with self._tracer.start_as_current_span(
            "codecascade.v1.TestSynthService/SynthesizeTests",
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "codecascade.tier": tier.tier},
        ):
            try:
                reply = await self._stub.SynthesizeTests(request, timeout=timeout_s)
            except grpc.aio.AioRpcError as exc:
                raise from_rpc_error(exc, "test synthesis") from exc
        usage = Usage(
            reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.cost_usd
        )
        latency = seconds(reply.model_latency)
        examples = tuple(
            t.code for t in reply.tests if t.origin == testsynth_pb.TEST_ORIGIN_PROMPT_EXAMPLE
        )
        return AssertSet(tuple(t.code for t in reply.tests), usage, latency, examples)


class SandboxMatrixRunner:
    """The k x T pass matrix from the SandboxService, one call per tier."""

    def __init__(self, channel: grpc.aio.Channel, *, test_timeout_s: float) -> None:
        self._stub = sandbox_grpc.SandboxServiceStub(channel)
        self._test_timeout_s = test_timeout_s

    async def run_matrix(
        self,
        problem: Problem,
        solutions: tuple[str, ...],
        tests: tuple[str, ...],
        *,
        timeout_s: float,
    ) -> Execution:
        request = sandbox_pb.ExecuteRequest(
            solutions=solutions, tests=tests, entry_point=problem.entry_point
        )
        request.limits.test_timeout.FromNanoseconds(round(self._test_timeout_s * 1e9))
        started = time.monotonic()
        try:
            reply = await self._stub.Execute(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "sandbox") from exc
        passed = tuple(
            tuple(cell.outcome == sandbox_pb.OUTCOME_PASSED for cell in row.tests)
            for row in reply.solutions
        )
        return Execution(passed, time.monotonic() - started)
