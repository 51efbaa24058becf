"""CascadeService over gRPC: proto in, the cascade, proto out (and events for the stream).

It is also the router's public edge: each call's `authorization: Bearer <key>` names the tenant
(`tenancy.edge`), the tenant's rate limits admit it, and the cascade reserves each tier's worst
case on the tenant's budgets before calling it (`router.metering`). Refusals carry what a client
needs in trailing metadata: `retry-after` (seconds) for rate limits, `x-budget-remaining-usd` and
`x-budget-scope` for budgets. With auth off every response carries `x-codecascade-warning`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from codecascade.core.decision import Agreement
from codecascade.core.errors import CascadeError, InvalidInput
from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.mesh.context import (
    DEFAULT_TENANT,
    REQUEST_ID_KEY,
    current_identity,
)
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
    TierAborted,
    TierAttempt,
    TierFinished,
    TierStartedEvent,
    TierWaking,
)
from codecascade.router.gateway import Gateway, log_failure, open_edge
from codecascade.router.metering import WorstCase
from codecascade.router.metrics import TenantMetrics
from codecascade.router.policy import OverrideLimits, RequestOverrides
from codecascade.tenancy.admission import Admission
from codecascade.tenancy.edge import OPEN_WARNING, Edge, UsageReport
from codecascade.tenancy.errors import BudgetExhausted, RetryLater
from codecascade.tenancy.keys import cert_fingerprint
from codecascade.tenancy.ledger import UNLIMITED, to_usd
from codecascade.tenancy.tenants import Caller
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from codecascade.v1 import usage_pb2

__all__ = ["AUTHORIZATION_KEY", "RETRY_AFTER_KEY", "WARNING_KEY", "CascadeServicer", "open_edge"]

_log = logging.getLogger(__name__)

AUTHORIZATION_KEY = "authorization"
RETRY_AFTER_KEY = "retry-after"
WARNING_KEY = "x-codecascade-warning"
BUDGET_REMAINING_KEY = "x-budget-remaining-usd"
BUDGET_SCOPE_KEY = "x-budget-scope"

_SCOPES = {
    "tenant_period": pb.BUDGET_SCOPE_TENANT_PERIOD,
    "tenant_lifetime": pb.BUDGET_SCOPE_TENANT_LIFETIME,
    "organisation_period": pb.BUDGET_SCOPE_ORGANISATION_PERIOD,
    "organisation_lifetime": pb.BUDGET_SCOPE_ORGANISATION_LIFETIME,
}


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
        degraded=result.degraded,
        degraded_reason=result.degraded_reason,
        cold_tier=result.cold_tier,
    )


def usage_to_proto(report: UsageReport) -> pb.GetUsageResponse:
    budgets = []
    for balance in report.balances:
        account = balance.account
        limited = account.limit != UNLIMITED
        budgets.append(
            pb.BudgetUsage(
                scope=_SCOPES.get(account.scope, pb.BUDGET_SCOPE_UNSPECIFIED),
                period=account.period,
                limited=limited,
                limit_usd=to_usd(account.limit) if limited else 0.0,
                spent_usd=to_usd(balance.spent),
                reserved_usd=to_usd(balance.reserved),
                remaining_usd=to_usd(balance.remaining or 0),
                tiers=[
                    pb.TierSpend(
                        tier=tier,
                        completion_tokens=tokens,
                        cost_usd=to_usd(balance.cost.get(tier, 0)),
                    )
                    for tier, tokens in sorted(balance.tokens.items())
                ],
            )
        )
    return pb.GetUsageResponse(
        tenant_id=report.tenant, organisation_id=report.organisation, budgets=budgets
    )


def event_to_proto(event: CascadeEvent) -> pb.GenerateStreamResponse | None:
    """The stream message for an event; None for events the stream does not carry (a tier's
    bookkeeping, and the answer, which the stream sends once as `completed`)."""
    if isinstance(event, TierFinished | TierAborted | Answered):
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
    if isinstance(event, TierWaking):
        return pb.GenerateStreamResponse(
            tier_waking=pb.TierWaking(
                tier=event.tier, reason=event.reason, budget=duration(event.budget_s)
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


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k.lower() == key and isinstance(v, str):
            return v
    return None


def _client_cert(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The sha256 fingerprint of the verified client certificate (mTLS), or ""."""
    pems = list(context.auth_context().get("x509_pem_cert") or ())
    if not pems:
        return ""
    try:
        return cert_fingerprint(pems[0].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return ""


class CascadeServicer(pb_grpc.CascadeServiceServicer):
    """Runs the cascade for each request, for the tenant the call's key names."""

    def __init__(
        self,
        cascade: Cascade,
        edge: Edge | None = None,
        worst: WorstCase | None = None,
        admission: Admission | None = None,
        metrics: TenantMetrics | None = None,
        *,
        gateway: Gateway | None = None,
    ) -> None:
        self._gateway = (
            gateway
            if gateway is not None
            else Gateway(
                cascade, edge if edge is not None else open_edge(), worst, admission, metrics
            )
        )
        self._edge = self._gateway.edge

    def _trail(self, context: grpc.aio.ServicerContext[Any, Any], *pairs: tuple[str, str]) -> None:
        """Sets the trailing metadata: the request id, the open-auth warning, and `pairs`."""
        identity = current_identity()
        trailing = [(REQUEST_ID_KEY, identity.request_id)] if identity else []
        if not self._edge.auth_enabled:
            trailing.append((WARNING_KEY, OPEN_WARNING))
        context.set_trailing_metadata((*trailing, *pairs))

    @contextmanager
    def _refusals(self, context: grpc.aio.ServicerContext[Any, Any]) -> Iterator[None]:
        """Puts what a refused client needs into the trailing metadata, logs one line for the
        failed request (reason, tenant, trace id), and re-raises for the interceptor to map."""
        try:
            yield
        except RetryLater as exc:
            self._trail(context, (RETRY_AFTER_KEY, f"{exc.retry_after_s:.0f}"))
            log_failure(exc)
            raise
        except BudgetExhausted as exc:
            self._trail(
                context,
                (BUDGET_REMAINING_KEY, f"{exc.remaining_usd:.9f}"),
                (BUDGET_SCOPE_KEY, exc.scope),
            )
            log_failure(exc)
            raise
        except CascadeError as exc:  # anything else is a bug, which the interceptor logs
            log_failure(exc)
            raise

    def _caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> Caller:
        """Authenticates the call and binds its tenant for logs, spans and downstream calls."""
        self._trail(context)
        identity = current_identity()
        claimed = identity.tenant if identity else DEFAULT_TENANT
        return self._gateway.authenticate(
            _metadata(context, AUTHORIZATION_KEY), claimed, client_cert=_client_cert(context)
        )

    async def _run(
        self,
        request: pb.GenerateRequest,
        context: grpc.aio.ServicerContext[Any, Any],
        observer: Any = None,
    ) -> CascadeResult:
        with self._refusals(context), self._gateway.counted() as count:
            caller = self._caller(context)
            problem, overrides = _problem(request)
            cascade = self._gateway.cascade_for(caller)

            def deadline_s(limits: OverrideLimits) -> float:
                # The call's own deadline (capped by the server's maximum), else the default.
                return remaining_s(
                    context,
                    default=limits.max_deadline_s
                    if context.time_remaining() is not None
                    else limits.default_deadline_s,
                )

            result = await self._gateway.run(
                caller,
                cascade,
                problem,
                overrides,
                seed=request.seed if request.HasField("seed") else None,
                deadline_s=deadline_s,
                observer=observer,
            )
            count(result.usage.cost_usd)
            return result

    async def GetUsage(
        self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetUsageResponse:
        with self._refusals(context):
            caller = self._caller(context)
            report = await self._edge.usage(caller, request.tenant_id, request.period)
        return usage_to_proto(report)

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
