"""The KServe predictor: `load()` once, then `predict()` maps v2 tensors onto the engine.

KServe knows only its own exception types, so our typed errors are translated here, at the one
boundary: bad input to `kserve.errors.InvalidInput` (INVALID_ARGUMENT / 400), unavailable to
`ModelNotReady` (UNAVAILABLE / 503), and the codes KServe has no type for (NOT_FOUND from a
model path, RESOURCE_EXHAUSTED from a full queue) to `grpc_interceptor` exceptions, which KServe's
gRPC interceptor passes through with their own status (REST reports them as 500).

Telemetry is done here too, because KServe's gRPC server takes no interceptors of ours (its
`GRPCServer` builds `aio.server` with its own two): KServe hands `predict` the call's metadata
(or HTTP headers) as `headers`, which carry the caller's W3C trace context (the OIP client sends
it, `codecascade.tierclient.oip_client.call_headers`) and tenant/request id. Each call becomes a
SERVER span continuing the caller's trace, with GenAI attributes (operation, model, sampling,
tokens, finish reasons) and three child spans placed at the engine's measured instants:
`queue_wait` (admitted until the worker took it), `prompt_evaluation` (until the first token was
sampled) and `decoding` (until the last one); plus one JSON log line per call, as every mesh
service writes (`codecascade.mesh.interceptors`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kserve
from grpc_interceptor import exceptions as grpc_exceptions
from kserve import InferRequest, InferResponse
from kserve.errors import InvalidInput as KServeInvalidInput
from kserve.errors import ModelNotReady
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from codecascade.core.errors import (
    CascadeError,
    DeadlineExceeded,
    InvalidInput,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from codecascade.core.sampling import GEN_AI_OPERATIONS, PromptFormat
from codecascade.mesh.context import identity_from_metadata, set_identity
from codecascade.mesh.errors import status_for
from codecascade.mesh.telemetry import context_from_metadata
from codecascade.tierserver.engine import LlamaEngine
from codecascade.tierserver.errors import InvalidRequest
from codecascade.tierserver.generation import Completion
from codecascade.tierserver.v2_codec import (
    INPUT_TYPES,
    OUTPUT_TYPES,
    TierRequest,
    decode_request,
    describe,
    encode_response,
)

__all__ = ["TierModel"]

_log = logging.getLogger(__name__)
# One line per call, on a logger of its own as in the mesh (codecascade.tierserver.model.calls).
_calls = logging.getLogger(f"{__name__}.calls")
_tracer = trace.get_tracer("codecascade.tierserver")
_GRPC_METHOD = "inference.GRPCInferenceService/ModelInfer"


class TierModel(kserve.Model):  # type: ignore[misc]  # kserve ships no type information
    """One llama.cpp model behind KServe's v2 REST and gRPC endpoints."""

    def __init__(self, name: str, engine: LlamaEngine) -> None:
        super().__init__(name)
        self._engine = engine

    def load(self) -> bool:
        self._engine.load()
        self.ready = True
        return True

    def stop(self) -> None:
        """Called by KServe on shutdown (from a signal handler): never block the loop here."""
        self._engine.close(wait=False)
        self.ready = False

    def get_input_types(self) -> list[dict[str, Any]]:
        return describe(INPUT_TYPES)

    def get_output_types(self) -> list[dict[str, Any]]:
        return describe(OUTPUT_TYPES)

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        with self._served(headers or {}) as span:
            try:
                if not isinstance(payload, InferRequest):
                    raise InvalidRequest("this tier serves the v2 inference protocol only")
                request = decode_request(payload, self._engine.config.limits)
                _describe_request(span, request, self._engine.config.prompt_format)
                completion = await self._engine.generate(
                    request.prompt, request.params, prompt_format=request.prompt_format
                )
                _describe_completion(span, completion)
            except CascadeError as exc:
                raise _to_kserve(exc, self.name) from exc
            return encode_response(payload, request, completion, self.name)

    @contextmanager
    def _served(self, headers: Mapping[str, str]) -> Iterator[trace.Span]:
        """The call's SERVER span (child of the caller's span) and its log line, failed or not."""
        grpc_call = "grpc" in headers.get("user-agent", "")
        method = _GRPC_METHOD if grpc_call else f"POST /v2/models/{self.name}/infer"
        attributes: dict[str, str] = {"gen_ai.request.model": self.name}
        if grpc_call:
            service, _, name = _GRPC_METHOD.partition("/")
            attributes |= {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        started = time.perf_counter()
        code, detail = "OK", ""
        with _tracer.start_as_current_span(
            method,
            context=context_from_metadata(headers.items()),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            token = None
            try:
                try:
                    identity = identity_from_metadata(headers.items())
                except InvalidInput as exc:  # a malformed tenant or request id
                    raise KServeInvalidInput(str(exc)) from exc
                token = set_identity(identity)
                span.set_attribute("codecascade.tenant", identity.tenant)
                span.set_attribute("codecascade.request_id", identity.request_id)
                yield span
            except Exception as exc:
                status, detail = status_for(exc.__cause__ or exc)
                code = status.name
                span.record_exception(exc.__cause__ or exc)
                span.set_status(Status(StatusCode.ERROR, detail))
                raise
            finally:
                elapsed_ms = (time.perf_counter() - started) * 1000
                fields: dict[str, object] = {
                    # As the mesh's lines write a gRPC method: its full path.
                    "rpc_method": f"/{method}" if grpc_call else method,
                    "grpc_code": code,
                    "duration_ms": round(elapsed_ms, 3),
                }
                if detail:
                    fields["detail"] = detail[:500]
                level = logging.INFO if code == "OK" else logging.WARNING
                _calls.log(level, "%s %s %.1f ms", method, code, elapsed_ms, extra=fields)
                if token is not None:
                    set_identity(None)


def _describe_request(span: trace.Span, request: TierRequest, default_format: PromptFormat) -> None:
    params = request.params
    operation = GEN_AI_OPERATIONS[request.prompt_format or default_format]
    span.set_attributes(
        {
            "gen_ai.operation.name": operation,
            "gen_ai.request.temperature": params.temperature,
            "gen_ai.request.top_p": params.top_p,
            "gen_ai.request.max_tokens": params.max_tokens,
            "gen_ai.request.choice.count": params.n,
        }
    )
    if params.seed is not None:
        span.set_attribute("gen_ai.request.seed", params.seed)


def _describe_completion(span: trace.Span, completion: Completion) -> None:
    """Tokens and finish reasons on the call's span; the engine's phases as its child spans."""
    span.set_attributes(
        {
            "gen_ai.usage.input_tokens": completion.prompt_tokens,
            "gen_ai.usage.output_tokens": completion.total_completion_tokens,
            "gen_ai.response.finish_reasons": list(completion.finish_reasons),
        }
    )
    phases = completion.phases
    if phases is None:
        return
    steps: tuple[tuple[str, int, int, dict[str, int]], ...] = (
        ("queue_wait", phases.submitted_ns, phases.started_ns, {}),
        (
            "prompt_evaluation",
            phases.started_ns,
            phases.first_token_ns,
            {"gen_ai.usage.input_tokens": completion.prompt_tokens},
        ),
        (
            "decoding",
            phases.first_token_ns,
            phases.finished_ns,
            {"gen_ai.usage.output_tokens": completion.total_completion_tokens},
        ),
    )
    for name, start, end, attributes in steps:
        child = _tracer.start_span(name, start_time=start, attributes=attributes)
        child.end(end_time=max(start, end))


def _to_kserve(exc: CascadeError, model_name: str) -> Exception:
    message = str(exc)
    translated: Exception
    if isinstance(exc, InvalidInput):
        translated = KServeInvalidInput(message)
    elif isinstance(exc, NotFound):
        translated = grpc_exceptions.NotFound(message)
    elif isinstance(exc, ResourceExhausted):
        translated = grpc_exceptions.ResourceExhausted(message)
    elif isinstance(exc, DeadlineExceeded):
        translated = grpc_exceptions.DeadlineExceeded(message)
    elif isinstance(exc, Unavailable):
        translated = ModelNotReady(model_name, message)
    else:
        _log.error("unexpected %s from model %s: %s", type(exc).__name__, model_name, message)
        translated = exc
    return translated
