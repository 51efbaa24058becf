"""CascadeService over gRPC: proto in, the cascade, proto out (and events for the stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from codecascade.core.decision import Agreement
from codecascade.core.errors import InvalidInput
from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.mesh.context import current_identity
from codecascade.mesh.deadlines import remaining_s
from codecascade.mesh.wire import duration, problem_from_wire, seconds
from codecascade.router.cascade import Cascade
from codecascade.router.events import (
    Answered,
    CandidatesReady,
    CascadeEvent,
    CascadeResult,
    EscalatedEvent,
    MatrixScored,
    TierAttempt,
    TierFinished,
    TierStartedEvent,
)
from codecascade.router.policy import RequestOverrides
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from codecascade.v1 import usage_pb2

__all__ = ["CascadeServicer"]

# Cap on the prompt a request may carry; the tiers' context windows are far smaller anyway.
MAX_PROMPT_BYTES = 32 * 1024


def _usage(usage: Usage) -> usage_pb2.TokenUsage:
    return usage_pb2.TokenUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
    )


def _matrix(scored: Agreement | None) -> pb.MatrixSummary:
    if scored is None:
        return pb.MatrixSummary(best_solution=-1)
    return pb.MatrixSummary(
        solutions=scored.solutions,
        tests=scored.tests,
        passed_cells=scored.passed_cells,
        passes_per_solution=scored.passes_per_solution,
        best_solution=scored.best_solution,
        best_solution_passes=scored.solution_passes,
        best_test_agreement=scored.test_agreement,
    )


def _attempt(attempt: TierAttempt) -> pb.TierAttempt:
    return pb.TierAttempt(
        tier=attempt.tier,
        decision=attempt.decision.value,  # type: ignore[arg-type]  # same numbers by design
        reason=attempt.reason,
        k=attempt.k,
        test_lines=attempt.test_lines,
        test_generations=attempt.test_generations,
        score=attempt.score,
        threshold=attempt.threshold,
        matrix=_matrix(attempt.agreement),
        solution_usage=_usage(attempt.solution_usage),
        test_usage=_usage(attempt.test_usage),
        model_time=duration(attempt.model_s),
        sandbox_time=duration(attempt.sandbox_s),
        elapsed=duration(attempt.elapsed_s),
        tests=attempt.tests,
    )


def result_to_proto(result: CascadeResult) -> pb.GenerateResponse:
    return pb.GenerateResponse(
        code=result.code,
        tier=result.tier,
        score=result.score,
        threshold=result.threshold,
        decision=result.decision.value,  # type: ignore[arg-type]
        matrix=_matrix(result.agreement),
        attempts=[_attempt(a) for a in result.attempts],
        usage=_usage(result.usage),
        elapsed=duration(result.elapsed_s),
        trace_id=result.trace_id,
    )


def event_to_proto(event: CascadeEvent) -> pb.GenerateStreamResponse | None:
    """The stream message for an event; None for events the stream does not carry (a tier's
    bookkeeping, and the answer, which the stream sends once as `completed`)."""
    if isinstance(event, TierFinished | Answered):
        return None
    if isinstance(event, TierStartedEvent):
        return pb.GenerateStreamResponse(
            tier_started=pb.TierStarted(
                tier=event.tier,
                k=event.k,
                test_lines=event.test_lines,
                test_generations=event.test_generations,
            )
        )
    if isinstance(event, CandidatesReady):
        return pb.GenerateStreamResponse(
            candidates_generated=pb.CandidatesGenerated(
                tier=event.tier,
                solutions=event.solutions,
                tests=event.tests,
                usage=_usage(event.usage),
            )
        )
    if isinstance(event, MatrixScored):
        return pb.GenerateStreamResponse(
            tests_executed=pb.TestsExecuted(
                tier=event.tier,
                matrix=_matrix(event.agreement),
                score=event.agreement.score,
                threshold=event.threshold,
            )
        )
    assert isinstance(event, EscalatedEvent)
    return pb.GenerateStreamResponse(
        escalated=pb.Escalated(
            from_tier=event.from_tier,
            to_tier=event.to_tier,
            reason=event.reason,
            score=event.score,
            threshold=event.threshold,
        )
    )


def _problem(request: pb.GenerateRequest) -> tuple[Problem, RequestOverrides]:
    task = request.task
    if len(task.prompt.encode()) > MAX_PROMPT_BYTES:
        raise InvalidInput(f"the prompt is larger than {MAX_PROMPT_BYTES} bytes")
    problem = problem_from_wire(task.prompt, task.entry_point, task.example_test, task.style)
    o = request.overrides
    overrides = RequestOverrides(
        max_tier=o.max_tier,
        threshold=o.threshold if o.HasField("threshold") else None,
        k=o.k if o.HasField("k") else None,
        cost_cap_usd=o.cost_cap_usd if o.HasField("cost_cap_usd") else None,
        deadline_s=seconds(o.deadline) if o.HasField("deadline") else None,
    )
    return problem, overrides


class CascadeServicer(pb_grpc.CascadeServiceServicer):
    """Runs the cascade for each request."""

    def __init__(self, cascade: Cascade) -> None:
        self._cascade = cascade

    async def _run(
        self,
        request: pb.GenerateRequest,
        context: grpc.aio.ServicerContext[Any, Any],
        observer: Any = None,
    ) -> CascadeResult:
        problem, overrides = _problem(request)
        limits = self._cascade.policy.limits
        identity = current_identity()
        return await self._cascade.run(
            problem,
            overrides,
            seed=request.seed if request.HasField("seed") else None,
            # The call's own deadline (capped by the server's maximum), else the default.
            deadline_s=remaining_s(
                context,
                default=limits.max_deadline_s
                if context.time_remaining() is not None
                else limits.default_deadline_s,
            ),
            tenant=identity.tenant if identity else "",
            observer=observer,
        )

    async def Generate(
        self, request: pb.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GenerateResponse:
        return result_to_proto(await self._run(request, context))

    async def GenerateStream(
        self, request: pb.GenerateStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.GenerateStreamResponse]:
        queue: asyncio.Queue[CascadeEvent] = asyncio.Queue()

        async def observe(event: CascadeEvent) -> None:
            await queue.put(event)

        task = asyncio.ensure_future(self._run(request.request, context, observe))
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    message = event_to_proto(getter.result())
                    if message is not None:
                        yield message
                    continue
                getter.cancel()
                while not queue.empty():
                    message = event_to_proto(queue.get_nowait())
                    if message is not None:
                        yield message
                result = task.result()  # raises the cascade's error, mapped by the interceptor
                yield pb.GenerateStreamResponse(completed=result_to_proto(result))
                return
        finally:
            if not task.done():
                task.cancel()
