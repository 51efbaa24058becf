"""The KServe predictor: `load()` once, then `predict()` maps v2 tensors onto the engine.

KServe knows only its own exception types, so our typed errors are translated here, at the one
boundary: bad input to `kserve.errors.InvalidInput` (INVALID_ARGUMENT / 400), unavailable to
`ModelNotReady` (UNAVAILABLE / 503), and the codes KServe has no type for (NOT_FOUND from a
model path, RESOURCE_EXHAUSTED from a full queue) to `grpc_interceptor` exceptions, which KServe's
gRPC interceptor passes through with their own status (REST reports them as 500).
"""

from __future__ import annotations

import logging
from typing import Any

import kserve
from grpc_interceptor import exceptions as grpc_exceptions
from kserve import InferRequest, InferResponse
from kserve.errors import InvalidInput as KServeInvalidInput
from kserve.errors import ModelNotReady

from codecascade.core.errors import (
    CascadeError,
    DeadlineExceeded,
    InvalidInput,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from codecascade.tierserver.engine import LlamaEngine
from codecascade.tierserver.errors import InvalidRequest
from codecascade.tierserver.v2_codec import (
    INPUT_TYPES,
    OUTPUT_TYPES,
    decode_request,
    describe,
    encode_response,
)

__all__ = ["TierModel"]

_log = logging.getLogger(__name__)


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
        try:
            if not isinstance(payload, InferRequest):
                raise InvalidRequest("this tier serves the v2 inference protocol only")
            request = decode_request(payload, self._engine.config.limits)
            completion = await self._engine.generate(
                request.prompt, request.params, prompt_format=request.prompt_format
            )
        except CascadeError as exc:
            raise _to_kserve(exc, self.name) from exc
        return encode_response(payload, request, completion, self.name)


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
