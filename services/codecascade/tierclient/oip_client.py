"""The Open Inference Protocol v2 tier client, over `tritonclient.grpc.aio`.

The same tensors reach Triton's vLLM backend, a KServe InferenceService or our llama.cpp tier.
Each attempt carries the time left as its gRPC deadline (so the server can give up too) and is
also bounded locally (`RetryingTierClient`), so a server that stops answering can never hold the
caller past its deadline. A server killed mid-request resets the connection: gRPC reports
UNAVAILABLE at once, which is retried and then surfaced as `TierUnavailable` with the detail.

Load spreading (docs/load-balancing.md): the client dials like a mesh channel,
`codecascade.mesh.channels.channel_target(address)` (a plain `host:port` becomes `dns:///host:port`,
every address behind a headless Service a backend) with the mesh's load-balancing policy
(`round_robin` unless GRPC_LB_POLICY says otherwise), so calls spread over a tier's replicas
instead of all going to the one pod tritonclient's default `pick_first` connects to.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, InferInput, InferResult, KeepAliveOptions
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from codecascade.core.errors import CascadeError
from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.mesh.channels import ChannelOptions, channel_arguments, channel_target
from codecascade.mesh.context import current_identity
from codecascade.mesh.telemetry import inject_metadata
from codecascade.tierclient.base import Parsed, RetryingTierClient
from codecascade.tierclient.errors import (
    TierDeadlineExceeded,
    TierFailed,
    TierNotFound,
    TierOverloaded,
    TierRejected,
    TierUnavailable,
)

__all__ = ["OipTierClient", "call_headers", "oip_channel_args", "sampling_parameters_json"]

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


def oip_channel_args(options: ChannelOptions | None = None) -> list[tuple[str, str | int]]:
    """tritonclient's `channel_args` for a tier: tritonclient's own defaults plus the mesh's
    load balancing.

    `channel_args` replaces the list tritonclient builds when it is not given, so that list is
    rebuilt here first, as tritonclient 2.73 writes it: its message size limit (INT32_MAX both
    ways; a tier's reply is not held to the mesh's `max_message_bytes`) and its keepalive
    defaults (`KeepAliveOptions()`). The mesh's arguments for `options` (default
    `ChannelOptions()`: round_robin) add what tritonclient does not set, the policy
    (`grpc.lb_policy_name`) and the default service config; each key appears once.
    """
    keepalive = KeepAliveOptions()
    arguments: dict[str, str | int] = {
        "grpc.max_send_message_length": MAX_GRPC_MESSAGE_SIZE,
        "grpc.max_receive_message_length": MAX_GRPC_MESSAGE_SIZE,
        "grpc.keepalive_time_ms": keepalive.keepalive_time_ms,
        "grpc.keepalive_timeout_ms": keepalive.keepalive_timeout_ms,
        "grpc.keepalive_permit_without_calls": keepalive.keepalive_permit_without_calls,
        "grpc.http2.max_pings_without_data": keepalive.http2_max_pings_without_data,
    }
    for key, value in channel_arguments(options if options is not None else ChannelOptions()):
        arguments.setdefault(key, value)
    return list(arguments.items())


def call_headers() -> dict[str, str]:
    """gRPC metadata for a tier call: the W3C trace context of the current (inference) span, so
    the tier server's spans continue the caller's trace, and the tenant/request id. tritonclient
    builds its own channel, which takes no interceptors; its `headers` become call metadata."""
    headers = dict(inject_metadata())
    identity = current_identity()
    if identity is not None:
        headers.update(identity.metadata())
    return headers


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
    """A `TierClient` for any OIP v2 gRPC server with Triton's LLM tensor names.

    `channel_options` (a service's `settings.channel_options()`; default `ChannelOptions()`,
    round_robin) picks the load-balancing policy over the tier's addresses; message sizes and
    keepalive stay tritonclient's (`oip_channel_args`).
    """

    def __init__(
        self,
        spec: TierSpec,
        *,
        clock: Callable[[], float] = time.monotonic,
        channel_options: ChannelOptions | None = None,
    ) -> None:
        super().__init__(spec, clock=clock)
        self._channel_args = oip_channel_args(channel_options)
        self._grpc: InferenceServerClient | None = None

    def _client(self) -> InferenceServerClient:
        # Created on first use, inside the running event loop that grpc.aio binds it to.
        if self._grpc is None:
            self._grpc = InferenceServerClient(
                url=channel_target(self._spec.address), channel_args=self._channel_args
            )
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
                headers=call_headers(),
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
