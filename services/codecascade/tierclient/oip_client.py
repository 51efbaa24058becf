"""The Open Inference Protocol v2 tier client, over `tritonclient.grpc.aio`.

The same tensors reach Triton's vLLM backend, a KServe InferenceService or our llama.cpp tier.
Each attempt carries the time left as its gRPC deadline (so the server can give up too) and is
also bounded locally (`RetryingTierClient`), so a server that stops answering can never hold the
caller past its deadline. A server killed mid-request resets the connection: gRPC reports
UNAVAILABLE at once, which is retried and then surfaced as `TierUnavailable` with the detail.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from tritonclient.grpc import InferInput, InferResult
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from codecascade.core.errors import CascadeError
from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.base import Parsed, RetryingTierClient
from codecascade.tierclient.errors import (
    TierDeadlineExceeded,
    TierFailed,
    TierNotFound,
    TierOverloaded,
    TierRejected,
    TierUnavailable,
)

__all__ = ["OipTierClient", "sampling_parameters_json"]

_STATUS_ERRORS: dict[str, type[CascadeError]] = {
    "StatusCode.UNAVAILABLE": TierUnavailable,
    "StatusCode.INVALID_ARGUMENT": TierRejected,
    "StatusCode.NOT_FOUND": TierNotFound,
    "StatusCode.RESOURCE_EXHAUSTED": TierOverloaded,
    "StatusCode.DEADLINE_EXCEEDED": TierDeadlineExceeded,
}


def sampling_parameters_json(params: SamplingParams) -> str:
    """The `sampling_parameters` tensor value; omits defaults the server should choose."""
    body: dict[str, Any] = {
        "n": params.n,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
    }
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    return json.dumps(body)


def _bytes_input(name: str, value: str) -> InferInput:
    tensor = InferInput(name, [1], "BYTES")
    tensor.set_data_from_numpy(np.array([value.encode("utf-8")], dtype=np.object_))
    return tensor


def _bool_input(name: str, value: bool) -> InferInput:
    tensor = InferInput(name, [1], "BOOL")
    tensor.set_data_from_numpy(np.array([value], dtype=np.bool_))
    return tensor


def _error(exc: InferenceServerException, what: str) -> CascadeError:
    status = str(exc.status() or "")
    kind = _STATUS_ERRORS.get(status, TierFailed)
    return kind(f"{what}: {status.removeprefix('StatusCode.') or 'error'}: {exc.message()}")


def _strings(array: npt.NDArray[Any] | None) -> tuple[str, ...]:
    if array is None:
        return ()
    return tuple(
        v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.reshape(-1)
    )


def _ints(array: npt.NDArray[Any] | None) -> tuple[int, ...]:
    return () if array is None else tuple(int(v) for v in array.reshape(-1))


class OipTierClient(RetryingTierClient[InferResult]):
    """A `TierClient` for any OIP v2 gRPC server with Triton's LLM tensor names."""

    def __init__(self, spec: TierSpec, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(spec, clock=clock)
        self._grpc: InferenceServerClient | None = None

    def _client(self) -> InferenceServerClient:
        # Created on first use, inside the running event loop that grpc.aio binds it to.
        if self._grpc is None:
            self._grpc = InferenceServerClient(url=self._spec.address)
        return self._grpc

    async def _send(
        self, prompt: str, params: SamplingParams, prompt_format: PromptFormat | None, left: float
    ) -> InferResult:
        inputs = [
            _bytes_input("text_input", prompt),
            _bytes_input("sampling_parameters", sampling_parameters_json(params)),
            _bool_input("exclude_input_in_output", True),
            _bool_input("stream", False),
            _bool_input("return_finish_reason", True),
            _bool_input("return_num_input_tokens", True),
            _bool_input("return_num_output_tokens", True),
        ]
        try:
            return await self._client().infer(
                self._spec.model,
                inputs,
                client_timeout=left,
                parameters={"prompt_format": prompt_format} if prompt_format else None,
            )
        except InferenceServerException as exc:
            raise _error(exc, self._what) from exc

    def _parse(self, reply: InferResult, prompt_format: PromptFormat | None) -> Parsed:
        texts = _strings(reply.as_numpy("text_output"))
        if not texts:
            raise TierFailed(f"{self._what}: response has no text_output")
        sample_tokens = _ints(reply.as_numpy("num_output_tokens"))
        return Parsed(
            texts=texts,
            finish_reasons=_strings(reply.as_numpy("finish_reason")) or ("stop",) * len(texts),
            prompt_tokens=sum(_ints(reply.as_numpy("num_input_tokens"))),
            completion_tokens=sum(sample_tokens),
            sample_tokens=sample_tokens,
        )

    async def ready(self, *, timeout_s: float = 5.0) -> bool:
        """ServerReady and ModelReady: KServe's gRPC server has no grpc.health.v1."""
        try:
            async with asyncio.timeout(timeout_s):
                client = self._client()
                return bool(
                    await client.is_server_ready(client_timeout=timeout_s)
                    and await client.is_model_ready(self._spec.model, client_timeout=timeout_s)
                )
        except (TimeoutError, InferenceServerException):
            return False

    async def close(self) -> None:
        if self._grpc is not None:
            await self._grpc.close()
            self._grpc = None
