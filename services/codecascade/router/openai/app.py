"""The OpenAI-compatible HTTP API as an ASGI (Starlette) app over the router's gateway.

`POST /v1/chat/completions` and `POST /v1/completions` (with `stream: true` as server-sent
events), `GET /v1/models` and `GET /v1/models/{model}`. A model is a cascade policy: `cascade`
(the router's own, or the tenant's policy file) and one per named policy. The answer is a normal
OpenAI response plus the cascade's path in the `codecascade` extension field; the response
headers carry `x-request-id` and `traceparent`. Refusals use OpenAI's error shape
(`{"error": {"message", "type", "param", "code"}}`) with the matching HTTP status. See
docs/openai.md.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from codecascade.core.errors import CascadeError, ErrorKind, InvalidInput, NotFound
from codecascade.core.task import Problem
from codecascade.core.usage import Usage
from codecascade.mesh.context import (
    DEFAULT_TENANT,
    REQUEST_ID_KEY,
    current_identity,
    identity_from_metadata,
    set_identity,
)
from codecascade.mesh.telemetry import context_from_metadata
from codecascade.router.events import (
    Answered,
    CandidatesReady,
    CascadeEvent,
    CascadeResult,
    Decision,
    EscalatedEvent,
    MatrixScored,
    Observer,
    TierAborted,
    TierAttempt,
    TierFinished,
    TierStartedEvent,
    TierWaking,
)
from codecascade.router.gateway import Gateway, log_failure
from codecascade.router.openai.mapping import (
    ChatRequest,
    CompletionRequest,
    InvalidParameter,
    Mapped,
    defined_function,
    designated_policy,
    first_tier_policy,
    map_request,
    parse_chat,
    parse_completion,
    with_max_tokens,
)
from codecascade.router.policy import RequestOverrides
from codecascade.tenancy.edge import OPEN_WARNING
from codecascade.tenancy.errors import BudgetExhausted, RetryLater
from codecascade.tenancy.tenants import Caller

__all__ = ["WARNING_HEADER", "build_app", "error_body", "event_comment", "extension"]

_log = logging.getLogger(__name__)
# One line per HTTP call (codecascade.router.openai.calls), like the gRPC servers' calls logger.
_calls = logging.getLogger(f"{__name__}.calls")

WARNING_HEADER = "x-codecascade-warning"
MAX_BODY_BYTES = 256 * 1024

# ErrorKind -> (HTTP status, OpenAI error type, OpenAI error code).
_ERRORS: dict[ErrorKind, tuple[int, str, str | None]] = {
    ErrorKind.INVALID_INPUT: (400, "invalid_request_error", None),
    ErrorKind.UNAUTHENTICATED: (401, "authentication_error", "invalid_api_key"),
    ErrorKind.PERMISSION_DENIED: (403, "permission_error", "permission_denied"),
    ErrorKind.NOT_FOUND: (404, "invalid_request_error", "model_not_found"),
    ErrorKind.RESOURCE_EXHAUSTED: (429, "rate_limit_error", "rate_limit_exceeded"),
    ErrorKind.UNAVAILABLE: (503, "service_unavailable", "service_unavailable"),
    ErrorKind.DEADLINE_EXCEEDED: (504, "timeout", "deadline_exceeded"),
    ErrorKind.INTERNAL: (500, "server_error", None),
}
_INTERNAL = "internal error; see the router's logs for the request id"


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI error object for an exception."""
    if not isinstance(exc, CascadeError):
        status, kind, code = _ERRORS[ErrorKind.INTERNAL]
        return status, {"error": {"message": _INTERNAL, "type": kind, "param": None, "code": code}}
    status, kind, code = _ERRORS.get(exc.kind, _ERRORS[ErrorKind.INTERNAL])
    message = str(exc) or exc.__class__.__name__
    if exc.kind is ErrorKind.INTERNAL:
        message = _INTERNAL
    if isinstance(exc, BudgetExhausted):
        code = "insufficient_quota"
    param = exc.param if isinstance(exc, InvalidParameter) else None
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _event(event: CascadeEvent) -> dict[str, Any] | None:
    if isinstance(event, TierStartedEvent):
        return {
            "event": "tier_started",
            "tier": event.tier,
            "k": event.k,
            "test_lines": event.test_lines,
            "test_generations": event.test_generations,
        }
    if isinstance(event, CandidatesReady):
        return {
            "event": "candidates_generated",
            "tier": event.tier,
            "solutions": event.solutions,
            "tests": event.tests,
            "completion_tokens": event.usage.completion_tokens,
            "cost_usd": event.usage.cost_usd,
        }
    if isinstance(event, MatrixScored):
        return {
            "event": "tests_executed",
            "tier": event.tier,
            "solutions": event.agreement.solutions,
            "tests": event.agreement.tests,
            "passed_cells": event.agreement.passed_cells,
            "score": event.agreement.score,
            "threshold": event.threshold,
        }
    if isinstance(event, EscalatedEvent):
        return {
            "event": "escalated",
            "from_tier": event.from_tier,
            "to_tier": event.to_tier,
            "reason": event.reason,
            "score": event.score,
            "threshold": event.threshold,
        }
    if isinstance(event, TierFinished):
        return {
            "event": "tier_finished",
            "tier": event.attempt.tier,
            "decision": event.attempt.decision.name.lower(),
            "score": event.attempt.score,
        }
    if isinstance(event, TierWaking):
        return {
            "event": "tier_waking",
            "tier": event.tier,
            "reason": event.reason,
            "budget_s": event.budget_s,
        }
    if isinstance(event, TierAborted):
        return None  # the request's error, or its cancellation, follows
    assert isinstance(event, Answered)
    return None  # the answer follows as chunks


def event_comment(event: CascadeEvent) -> str | None:
    """The SSE comment line carrying one cascade event (`: codecascade {json}`), or None."""
    payload = _event(event)
    if payload is None:
        return None
    return f": codecascade {json.dumps(payload, separators=(',', ':'))}\n\n"


def _attempt(attempt: TierAttempt) -> dict[str, Any]:
    usage = attempt.usage
    return {
        "tier": attempt.tier,
        "decision": attempt.decision.name.lower(),
        "reason": attempt.reason,
        "k": attempt.k,
        "test_lines": attempt.test_lines,
        "test_generations": attempt.test_generations,
        "score": attempt.score,
        "threshold": attempt.threshold,
        "tests": len(attempt.tests),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "elapsed_s": attempt.elapsed_s,
    }


@dataclass(frozen=True, slots=True)
class _Answer:
    """What one request got: the cascade's result, the task it ran, and (for a natural-language
    task with no function named) the greedy call that named the function."""

    mapped: Mapped
    result: CascadeResult
    naming: CascadeResult | None = None

    @property
    def usage(self) -> Usage:
        return self.result.usage + (self.naming.usage if self.naming is not None else Usage())


def _naming(naming: CascadeResult) -> dict[str, Any]:
    usage = naming.usage
    return {
        "tier": naming.tier,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "elapsed_s": naming.elapsed_s,
    }


def extension(answer: _Answer) -> dict[str, Any]:
    """The `codecascade` field: the path the answer took and whether it was verified."""
    result, mapped = answer.result, answer.mapped
    verified = result.decision in (Decision.ACCEPTED, Decision.FINAL) and not (
        mapped.unverified_reason
    )
    naming = answer.naming
    return {
        "policy": mapped.model,
        "tier": result.tier,
        "decision": result.decision.name.lower(),
        "score": result.score,
        "threshold": result.threshold,
        "verified": verified,
        "unverified_reason": mapped.unverified_reason
        or ("" if verified else "answered untested (k = 0)"),
        "entry_point": mapped.problem.entry_point,
        "style": mapped.problem.style,
        "naming": None if naming is None else _naming(naming),
        "tiers": [a.tier for a in result.attempts],
        "attempts": [_attempt(a) for a in result.attempts],
        "cost_usd": answer.usage.cost_usd,
        "elapsed_s": result.elapsed_s + (naming.elapsed_s if naming is not None else 0.0),
        "trace_id": result.trace_id,
        "degraded": result.degraded,
        "degraded_reason": result.degraded_reason,
        "cold_tier": result.cold_tier,
    }


def _usage(answer: _Answer) -> dict[str, int]:
    usage = answer.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


@dataclass(frozen=True, slots=True)
class _Call:
    """One HTTP call's identity: its id, creation time and the headers every answer carries."""

    kind: str  # "chat" or "completion"
    request_id: str
    created: int
    headers: dict[str, str]

    @property
    def id(self) -> str:
        prefix = "chatcmpl" if self.kind == "chat" else "cmpl"
        return f"{prefix}-{self.request_id}"

    @property
    def object(self) -> str:
        return "chat.completion" if self.kind == "chat" else "text_completion"


def _choice(kind: str, code: str) -> dict[str, Any]:
    if kind == "chat":
        return {
            "index": 0,
            "message": {"role": "assistant", "content": code, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    return {"index": 0, "text": code, "logprobs": None, "finish_reason": "stop"}


def _chunk(call: _Call, model: str, choices: list[dict[str, Any]], **extra: Any) -> str:
    body = {
        "id": call.id,
        "object": f"{call.object}.chunk" if call.kind == "chat" else call.object,
        "created": call.created,
        "model": model,
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"


def _delta(kind: str, text: str | None, *, first: bool = False, finish: bool = False) -> Any:
    if kind == "chat":
        delta: dict[str, Any] = {}
        if first:
            delta["role"] = "assistant"
        if text is not None:
            delta["content"] = text
        return {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": "stop" if finish else None,
        }
    return {
        "index": 0,
        "text": text or "",
        "logprobs": None,
        "finish_reason": "stop" if finish else None,
    }


def _log_call(
    request: Request,
    status: int,
    started: float,
    span: trace.Span,
    *,
    tenant: str,
    request_id: str,
) -> None:
    """The HTTP edge's one log line per call, the same fields as the gRPC interceptor's (method,
    status, duration, tenant, trace id). Identity and trace id are passed, not read from the
    context: a streamed answer ends after its handler's context is gone."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    route = f"{request.method} {request.url.path}"
    fields: dict[str, object] = {
        "http_route": route,
        "http_status": status,
        "duration_ms": round(elapsed_ms, 3),
        "tenant": tenant,
        "request_id": request_id,
    }
    ctx = span.get_span_context()
    if ctx.is_valid:
        fields["trace_id"] = format(ctx.trace_id, "032x")
        fields["span_id"] = format(ctx.span_id, "016x")
    _calls.log(
        logging.INFO if status < 400 else logging.WARNING,
        "%s %d %.1f ms",
        route,
        status,
        elapsed_ms,
        extra=fields,
    )


async def _logged_at_end(
    body: AsyncIterable[str | bytes | memoryview[int]], log: Callable[[], None]
) -> AsyncIterator[str | bytes | memoryview[int]]:
    """A streamed answer's body that writes the call's log line once the stream has ended."""
    try:
        async for chunk in body:
            yield chunk
    finally:
        log()


class OpenAIEdge:
    """The HTTP handlers; every request goes through the gateway."""

    def __init__(self, gateway: Gateway, tracer_provider: TracerProvider | None = None) -> None:
        self._gateway = gateway
        self._tracer = trace.get_tracer(
            "codecascade.router.openai", tracer_provider=tracer_provider
        )

    # --- plumbing: identity, span, headers, errors ---

    def _base_headers(self, request_id: str, span: trace.Span) -> dict[str, str]:
        headers = {REQUEST_ID_KEY: request_id}
        ctx = span.get_span_context()
        if ctx.is_valid:
            headers["traceparent"] = (
                f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
            )
        if not self._gateway.edge.auth_enabled:
            headers[WARNING_HEADER] = OPEN_WARNING
        return headers

    def _refusal(self, exc: BaseException, headers: dict[str, str]) -> JSONResponse:
        status, body = error_body(exc)
        headers = dict(headers)
        if isinstance(exc, RetryLater):
            headers["retry-after"] = f"{max(exc.retry_after_s, 1):.0f}"
        if isinstance(exc, BudgetExhausted):
            headers["x-budget-remaining-usd"] = f"{exc.remaining_usd:.9f}"
            headers["x-budget-scope"] = exc.scope
        if isinstance(exc, CascadeError):
            log_failure(exc)
        else:
            _log.exception("request failed: internal error")
        return JSONResponse(body, status_code=status, headers=headers)

    async def _scoped(
        self,
        request: Request,
        name: str,
        handle: Callable[[Request, trace.Span, dict[str, str]], Awaitable[Response]],
    ) -> Response:
        """Runs `handle` inside a SERVER span parented on the caller's traceparent, with the
        call's tenant and request id bound (x-tenant-id, x-request-id headers), as the gRPC
        interceptor does for gRPC calls. `handle` owns the span once it returns a stream."""
        parent = context_from_metadata(request.headers.items())
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.url.path},
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        bound = False
        try:
            started = time.perf_counter()
            try:
                identity = identity_from_metadata(request.headers.items())
            except InvalidInput as exc:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                span.end()
                refusal = self._refusal(exc, self._base_headers("", span))
                _log_call(request, refusal.status_code, started, span, tenant="", request_id="")
                return refusal
            set_identity(identity)
            bound = True
            span.set_attribute("codecascade.tenant", identity.tenant)
            span.set_attribute("codecascade.request_id", identity.request_id)
            headers = self._base_headers(identity.request_id, span)
            response = await handle(request, span, headers)
            log = functools.partial(
                _log_call,
                request,
                response.status_code,
                started,
                span,
                # The tenant the key named (`_caller`; the cascade may run in a task of its own,
                # whose context the handler does not see), else the one the call claimed.
                tenant=getattr(request.state, "tenant", identity.tenant),
                request_id=identity.request_id,
            )
            if isinstance(response, StreamingResponse):
                response.body_iterator = _logged_at_end(response.body_iterator, log)
            else:
                log()
            return response
        finally:
            if bound:
                set_identity(None)  # this request's task ends here; its job kept a copy
            otel_context.detach(token)

    def _caller(self, request: Request) -> Caller:
        identity = current_identity()
        claimed = identity.tenant if identity else DEFAULT_TENANT
        caller = self._gateway.authenticate(request.headers.get("authorization"), claimed)
        request.state.tenant = caller.tenant.id  # for the call's log line
        return caller

    async def _run(self, caller: Caller, mapped: Mapped, observer: Observer | None) -> _Answer:
        """The cascade for one mapped request, as one admitted request of the tenant.

        A natural-language task that names no function first asks the policy's first tier for
        one greedy solution and takes the function it defines as the entry point; then the
        whole cascade runs on the task with that entry point. When nothing defines a function,
        the policy's designated tier answers, unverified."""
        gateway = self._gateway
        cascade = gateway.cascade_for(caller, mapped.model)
        policy = with_max_tokens(cascade.policy, mapped.max_tokens)
        if policy is not cascade.policy:
            cascade = cascade.with_policy(policy)
        tenant = caller.tenant
        overrides = gateway.capped(caller, cascade, mapped.overrides)
        seconds = policy.limits.default_deadline_s
        loop = asyncio.get_running_loop()
        started = loop.time()

        def left() -> float:
            return max(seconds - (loop.time() - started), 0.001)

        async with gateway.admitted(caller, seconds) as admitted:
            naming: CascadeResult | None = None
            if mapped.needs_entry_point:
                first = first_tier_policy(policy, overrides.max_tier, allowed=tenant.allowed_tiers)
                naming = await admitted.run(
                    cascade.with_policy(first),
                    mapped.problem,
                    RequestOverrides(),
                    seed=mapped.seed,
                    deadline_s=left(),
                    observer=observer,
                )
                name = defined_function(naming.code)
                if name:
                    mapped = replace(
                        mapped,
                        problem=Problem(mapped.problem.prompt, name, "mbpp"),
                        needs_entry_point=False,
                        unverified_reason="",
                    )
                else:
                    mapped = replace(
                        mapped,
                        needs_entry_point=False,
                        unverified_reason=f"the task names no function and the first tier's "
                        f"answer defines none ({mapped.unverified_reason})",
                    )
            if mapped.unverified_reason:
                designated = designated_policy(
                    policy, allowed=tenant.allowed_tiers, ceiling=overrides.max_tier
                )
                if naming is not None and designated.tiers[0].tier == naming.tier:
                    return _Answer(mapped, naming)  # that answer is the designated tier's
                result = await admitted.run(
                    cascade.with_policy(designated),
                    mapped.problem,
                    RequestOverrides(),
                    seed=mapped.seed,
                    deadline_s=left(),
                    observer=observer,
                )
                return _Answer(mapped, result, naming)
            result = await admitted.run(
                cascade,
                mapped.problem,
                overrides,
                seed=mapped.seed,
                deadline_s=left(),
                observer=observer,
            )
            return _Answer(mapped, result, naming)

    # --- endpoints ---

    async def models(self, request: Request) -> Response:
        async def handle(request: Request, span: trace.Span, headers: dict[str, str]) -> Response:
            try:
                self._caller(request)
            except CascadeError as exc:
                span.end()
                return self._refusal(exc, headers)
            span.end()
            wanted = request.path_params.get("model")
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "codecascade"}
                for name in self._gateway.models
            ]
            if wanted is None:
                return JSONResponse({"object": "list", "data": data}, headers=headers)
            for model in data:
                if model["id"] == wanted:
                    return JSONResponse(model, headers=headers)
            status, body = error_body(
                _not_found(f"the model {wanted!r} does not exist", self._gateway.models)
            )
            return JSONResponse(body, status_code=status, headers=headers)

        return await self._scoped(request, "GET /v1/models", handle)

    async def chat(self, request: Request) -> Response:
        return await self._scoped(
            request, "POST /v1/chat/completions", lambda r, s, h: self._complete(r, s, h, "chat")
        )

    async def completions(self, request: Request) -> Response:
        return await self._scoped(
            request, "POST /v1/completions", lambda r, s, h: self._complete(r, s, h, "completion")
        )

    async def _complete(
        self, request: Request, span: trace.Span, headers: dict[str, str], kind: str
    ) -> Response:
        identity = current_identity()
        call = _Call(kind, identity.request_id if identity else "", int(time.time()), headers)
        queue: asyncio.Queue[CascadeEvent] = asyncio.Queue()
        stream = False
        try:
            raw = await request.body()
            if len(raw) > MAX_BODY_BYTES:
                raise InvalidParameter(f"the request body is larger than {MAX_BODY_BYTES} bytes")
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise InvalidParameter(f"the request body is not valid JSON: {exc}") from exc
            stream = isinstance(body, dict) and body.get("stream") is True
        except CascadeError as exc:
            span.end()
            return self._refusal(exc, headers)

        async def observe(event: CascadeEvent) -> None:
            await queue.put(event)

        async def job() -> _Answer:
            try:
                with self._gateway.counted() as count:
                    parsed: ChatRequest | CompletionRequest = (
                        parse_chat(body) if kind == "chat" else parse_completion(body)
                    )
                    mapped = map_request(parsed)
                    caller = self._caller(request)
                    if mapped.user:
                        span.set_attribute("codecascade.end_user", mapped.user)
                    answer = await self._run(caller, mapped, observe if stream else None)
                    count(answer.usage.cost_usd)
                    return answer
            except BaseException as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                raise

        task = asyncio.ensure_future(job())  # copies the context: span and identity
        task.add_done_callback(lambda _: span.end())
        if not stream:
            try:
                result = await task
            except Exception as exc:
                return self._refusal(exc, headers)
            body = {
                "id": call.id,
                "object": call.object,
                "created": call.created,
                "model": result.mapped.model,
                "choices": [_choice(kind, result.result.code)],
                "usage": _usage(result),
                "codecascade": extension(result),
            }
            return JSONResponse(body, headers=headers)
        # Streaming: refusals before the cascade's first event (auth, limits, the first tier's
        # budget) are still plain HTTP errors; after it, an error is an SSE `error` event.
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            failure = task.exception()
            if failure is not None:
                return self._refusal(failure, headers)
        first = getter.result() if getter.done() and not getter.cancelled() else None
        return StreamingResponse(
            self._events(call, task, queue, first),
            media_type="text/event-stream",
            headers={**headers, "cache-control": "no-cache"},
        )

    async def _events(
        self,
        call: _Call,
        task: asyncio.Task[_Answer],
        queue: asyncio.Queue[CascadeEvent],
        first: CascadeEvent | None,
    ) -> AsyncIterator[str]:
        try:
            if first is not None:
                comment = event_comment(first)
                if comment is not None:
                    yield comment
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    comment = event_comment(getter.result())
                    if comment is not None:
                        yield comment
                    continue
                getter.cancel()
                while not queue.empty():
                    comment = event_comment(queue.get_nowait())
                    if comment is not None:
                        yield comment
                break
            failure = task.exception()
            if failure is not None:
                _, body = error_body(failure)
                if isinstance(failure, CascadeError):
                    log_failure(failure)
                else:
                    _log.error("request failed: internal error", exc_info=failure)
                yield f"data: {json.dumps(body)}\n\n"
                return
            answer = task.result()
            mapped, result = answer.mapped, answer.result
            model = mapped.model
            yield _chunk(
                call, model, [_delta(call.kind, "" if call.kind == "chat" else None, first=True)]
            )
            yield _chunk(call, model, [_delta(call.kind, result.code)])
            yield _chunk(
                call,
                model,
                [_delta(call.kind, None, finish=True)],
                codecascade=extension(answer),
            )
            if mapped.include_usage:
                yield _chunk(call, model, [], usage=_usage(answer))
            yield "data: [DONE]\n\n"
        finally:
            if not task.done():
                task.cancel()


def _not_found(message: str, models: tuple[str, ...]) -> CascadeError:
    return NotFound(f"{message}; this router serves {list(models)}")


def build_app(gateway: Gateway, *, tracer_provider: TracerProvider | None = None) -> Starlette:
    """The ASGI app of the OpenAI-compatible API over `gateway`."""
    edge = OpenAIEdge(gateway, tracer_provider)
    return Starlette(
        routes=[
            Route("/v1/chat/completions", edge.chat, methods=["POST"]),
            Route("/v1/completions", edge.completions, methods=["POST"]),
            Route("/v1/models", edge.models, methods=["GET"]),
            Route("/v1/models/{model:path}", edge.models, methods=["GET"]),
        ]
    )
