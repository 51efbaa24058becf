"""gRPC interceptors: the one place calls get identity, spans, deadlines, metrics, status, logs.

Server side, every handler runs inside the SERVER span that opentelemetry-instrumentation-grpc's
aio interceptor opens, parented on the caller's W3C context (`codecascade.mesh.telemetry`; it
runs first, so this one sees its span as the current one). This interceptor names the span as
before (`package.Service/Method`), binds the tenant and request id for logs and the span, runs
the handler under the caller's deadline, maps exceptions to status codes with
`codecascade.mesh.errors.status_for` (handlers never call `context.abort`), counts the call, and
writes one JSON log line per call, answered or failed: method, status code, duration, tenant,
request id, trace id (`codecascade.mesh.logs`).
Client side, the instrumentation's interceptors inject the trace context and open a CLIENT span;
`ClientInterceptor` forwards the current tenant/request id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, cast

import grpc
from grpc.aio import ClientCallDetails, ServicerContext
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from codecascade.core.errors import InvalidInput
from codecascade.mesh.context import (
    REQUEST_ID_KEY,
    current_identity,
    identity_from_metadata,
    set_identity,
)
from codecascade.mesh.errors import status_for
from codecascade.mesh.metrics import RpcMetrics, trace_exemplar
from codecascade.mesh.telemetry import UNTRACED_SERVICE_PREFIXES

__all__ = ["ClientInterceptor", "ServerInterceptor"]

_log = logging.getLogger(__name__)

# Infrastructure methods are served but neither traced, counted nor logged: probes would drown
# the data.
_UNTRACED_PREFIXES = tuple(f"/{prefix}" for prefix in UNTRACED_SERVICE_PREFIXES)
# The per-call log lines' own logger (codecascade.mesh.interceptors.calls): a deployment can
# filter or silence them apart from the rest.
_calls = logging.getLogger(f"{__name__}.calls")


class _Undecodable:
    """Stands in for a request whose bytes did not parse, so the handler can reject it properly.

    Left to grpc, a deserializer error becomes INTERNAL with no hint; the most common cause is a
    string field that is not valid UTF-8, which is the caller's to fix.
    """

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:
            return _Undecodable(exc)

    return deserialize


def _decoded(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise InvalidInput(
            "the request could not be decoded (every string field must be valid UTF-8): "
            f"{str(request.error)[:200]}"
        )
    return request


class _CallScope:
    """Everything the server does around one call: identity, span, deadline, status, metrics."""

    def __init__(
        self, interceptor: ServerInterceptor, method: str, context: ServicerContext[Any, Any]
    ) -> None:
        self._interceptor = interceptor
        self._method = method
        self._context = context
        self._started = time.perf_counter()

    async def fail(self, exc: BaseException, span: trace.Span | None) -> NoReturn:
        """Records the failure, then aborts the call with its mapped status (raises)."""
        code, message = status_for(exc)
        if isinstance(exc, TimeoutError):
            code, message = grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
        if code is grpc.StatusCode.INTERNAL:
            _log.error("unhandled error in %s", self._method, exc_info=exc)
        if span is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, message))
            span.set_attribute("rpc.grpc.status_code", code.value[0])
        self.finish(code, message)
        await self._context.abort(code, message)
        raise AssertionError("abort returned")  # pragma: no cover

    def finish(self, code: grpc.StatusCode, message: str = "") -> None:
        """Counts the call and writes its log line (inside its span: the line has the trace id)."""
        elapsed = time.perf_counter() - self._started
        metrics = self._interceptor.metrics
        if metrics is not None:
            metrics.handled.labels(self._method, code.name).inc()
            metrics.duration.labels(self._method).observe(elapsed, exemplar=trace_exemplar())
        fields: dict[str, object] = {
            "rpc_method": self._method,
            "grpc_code": code.name,
            "duration_ms": round(elapsed * 1000, 3),
        }
        if message:
            fields["detail"] = message[:500]
        _calls.log(
            logging.INFO if code is grpc.StatusCode.OK else logging.WARNING,
            "%s %s %.1f ms",
            self._method,
            code.name,
            elapsed * 1000,
            extra=fields,
        )


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler of an aio server; see the module docstring."""

    def __init__(self, metrics: RpcMetrics | None = None) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(_UNTRACED_PREFIXES):
            return handler
        # On an aio server the behaviours are coroutine functions / async generators, whatever
        # the sync-flavoured stubs say.
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, cast(Any, handler.unary_unary)),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, cast(Any, handler.unary_stream)),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler  # client-streaming methods: none in our APIs

    @staticmethod
    def _start(method: str) -> trace.Span:
        """The call's SERVER span, opened by the gRPC instrumentation; named as the semantic
        conventions write it (the instrumentation keeps the path's leading slash)."""
        span = trace.get_current_span()
        span.update_name(method.lstrip("/"))
        return span

    async def _bind_identity(
        self, scope: _CallScope, span: trace.Span, context: ServicerContext[Any, Any]
    ) -> Any:
        """Binds the call's tenant and request id for logs and spans; a bad one aborts the call."""
        try:
            identity = identity_from_metadata(context.invocation_metadata())
        except Exception as exc:  # bad tenant or request id
            await scope.fail(exc, span)
        span.set_attribute("codecascade.tenant", identity.tenant)
        span.set_attribute("codecascade.request_id", identity.request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, identity.request_id),))
        return set_identity(identity)

    def _wrap_unary(
        self, method: str, behavior: Callable[[Any, ServicerContext[Any, Any]], Awaitable[Any]]
    ) -> Callable[[Any, ServicerContext[Any, Any]], Awaitable[Any]]:
        async def handle(request: Any, context: ServicerContext[Any, Any]) -> Any:
            scope = _CallScope(self, method, context)
            span = self._start(method)
            token = await self._bind_identity(scope, span, context)
            try:
                async with asyncio.timeout(context.time_remaining()):
                    response = await behavior(_decoded(request), context)
            except Exception as exc:
                await scope.fail(exc, span)
            else:
                scope.finish(grpc.StatusCode.OK)
            finally:
                _reset(token)
            return response

        return handle

    def _wrap_stream(
        self,
        method: str,
        behavior: Callable[[Any, ServicerContext[Any, Any]], AsyncIterator[Any]],
    ) -> Callable[[Any, ServicerContext[Any, Any]], AsyncIterator[Any]]:
        async def handle(request: Any, context: ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            scope = _CallScope(self, method, context)
            span = self._start(method)
            token = await self._bind_identity(scope, span, context)
            try:
                async with asyncio.timeout(context.time_remaining()):
                    async for message in behavior(_decoded(request), context):
                        yield message
            except Exception as exc:
                await scope.fail(exc, span)
            else:
                scope.finish(grpc.StatusCode.OK)
            finally:
                _reset(token)

        return handle


def _reset(token: Any) -> None:
    try:
        token.var.reset(token)
    except ValueError:  # reset from another context (generator resumed elsewhere)
        set_identity(None)


class ClientInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
):
    """Adds the current tenant/request id to every outgoing call (the trace context is the gRPC
    instrumentation's: `codecascade.mesh.telemetry.rpc_client_interceptors`)."""

    def _details(self, details: ClientCallDetails) -> ClientCallDetails:
        metadata = list(details.metadata or ())
        identity = current_identity()
        if identity is not None:
            present = {key for key, _ in metadata}
            metadata.extend(pair for pair in identity.metadata() if pair[0] not in present)
        return ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*metadata),
            details.credentials,
            details.wait_for_ready,
        )

    async def intercept_unary_unary(
        self,
        continuation: Callable[[ClientCallDetails, Any], Any],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(
        self,
        continuation: Callable[[ClientCallDetails, Any], Any],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)
