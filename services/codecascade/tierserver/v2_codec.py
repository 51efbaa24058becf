"""Open Inference Protocol v2 tensors <-> one generation, with Triton's vLLM-backend names.

Inputs: `text_input` (BYTES, one element), `sampling_parameters` (BYTES, a JSON object),
`exclude_input_in_output` (BOOL, default false as in Triton), `stream` (BOOL; only false is
served). Request parameter `prompt_format` ("chat"/"raw") overrides the server default.
Outputs: `text_output` (BYTES, one element per sample), `finish_reason` (BYTES, per sample),
`num_input_tokens` (UINT32, [1]) and `num_output_tokens` (UINT32, per sample).

Every output is set with `binary_data=True`: tritonclient's gRPC `as_numpy` reads only
`raw_output_contents`, and fails on typed contents ("cannot reshape array of size 0").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from kserve import InferOutput, InferRequest, InferResponse

from codecascade.core.sampling import PromptFormat, SamplingParams
from codecascade.tierserver.errors import InvalidRequest
from codecascade.tierserver.generation import Completion, SamplingLimits, parse_sampling_parameters

__all__ = [
    "INPUT_TYPES",
    "OUTPUT_TYPES",
    "TierRequest",
    "decode_request",
    "describe",
    "encode_response",
]

INPUT_TYPES: tuple[dict[str, Any], ...] = (
    {"name": "text_input", "datatype": "BYTES", "shape": [1]},
    {"name": "sampling_parameters", "datatype": "BYTES", "shape": [1]},
    {"name": "exclude_input_in_output", "datatype": "BOOL", "shape": [1]},
    {"name": "stream", "datatype": "BOOL", "shape": [1]},
    # Triton's vLLM backend returns the extra outputs only when these are true; this tier always
    # returns them, and accepts the flags so one client works against both.
    {"name": "return_finish_reason", "datatype": "BOOL", "shape": [1]},
    {"name": "return_num_input_tokens", "datatype": "BOOL", "shape": [1]},
    {"name": "return_num_output_tokens", "datatype": "BOOL", "shape": [1]},
)
OUTPUT_TYPES: tuple[dict[str, Any], ...] = (
    {"name": "text_output", "datatype": "BYTES", "shape": [-1]},
    {"name": "finish_reason", "datatype": "BYTES", "shape": [-1]},
    {"name": "num_input_tokens", "datatype": "UINT32", "shape": [1]},
    {"name": "num_output_tokens", "datatype": "UINT32", "shape": [-1]},
)
_KNOWN_INPUTS = frozenset(t["name"] for t in INPUT_TYPES)


@dataclass(frozen=True)
class TierRequest:
    """One decoded inference request."""

    prompt: str
    params: SamplingParams
    exclude_input_in_output: bool
    prompt_format: PromptFormat | None


def _single(array: npt.NDArray[Any], name: str) -> Any:
    if array.size != 1:
        raise InvalidRequest(f"input {name} must hold exactly one element, got {array.size}")
    return array.reshape(-1)[0]


def _text(value: Any, name: str) -> str:
    if isinstance(value, bytes | np.bytes_):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"input {name} is not valid UTF-8") from exc
    if isinstance(value, str):
        return value
    raise InvalidRequest(f"input {name} must be BYTES, got {type(value).__name__}")


def _tensor(request: InferRequest, name: str) -> npt.NDArray[Any] | None:
    tensor = request.get_input_by_name(name)
    if tensor is None:
        return None
    try:
        return np.asarray(tensor.as_numpy())
    except (ValueError, TypeError) as exc:  # shape/data mismatch, undecodable raw bytes
        raise InvalidRequest(f"input {name} cannot be decoded: {exc}") from exc


def _bool(request: InferRequest, name: str, default: bool) -> bool:
    array = _tensor(request, name)
    if array is None:
        return default
    if array.dtype != np.bool_:
        raise InvalidRequest(f"input {name} must be BOOL")
    return bool(_single(array, name))


def _request_parameter(parameters: Any, key: str) -> str | None:
    """Reads a string parameter from REST (dict) or gRPC (map of InferParameter) requests."""
    if not parameters or key not in parameters:
        return None
    value = parameters[key]
    if hasattr(value, "WhichOneof"):
        value = getattr(value, value.WhichOneof("parameter_choice") or "string_param")
    if not isinstance(value, str):
        raise InvalidRequest(f"request parameter {key} must be a string")
    return value


def _prompt_format(parameters: Any) -> PromptFormat | None:
    value = _request_parameter(parameters, "prompt_format")
    if value is None or value == "":
        return None
    if value == "chat":
        return "chat"
    if value == "raw":
        return "raw"
    raise InvalidRequest(f"request parameter prompt_format must be 'chat' or 'raw', got {value!r}")


def decode_request(request: InferRequest, limits: SamplingLimits) -> TierRequest:
    """Validates and converts the tensors; every problem is an InvalidRequest naming the tensor."""
    unknown = sorted({t.name for t in request.inputs} - _KNOWN_INPUTS)
    if unknown:
        raise InvalidRequest(f"unknown input tensor(s) {', '.join(unknown)}")
    text = _tensor(request, "text_input")
    if text is None:
        raise InvalidRequest("input text_input is required")
    prompt = _text(_single(text, "text_input"), "text_input")
    raw_params = _tensor(request, "sampling_parameters")
    params_json = (
        None
        if raw_params is None
        else _text(_single(raw_params, "sampling_parameters"), "sampling_parameters")
    )
    if _bool(request, "stream", False):
        raise InvalidRequest("stream=true is not served by this tier; send stream=false")
    return TierRequest(
        prompt=prompt,
        params=parse_sampling_parameters(params_json, limits),
        exclude_input_in_output=_bool(request, "exclude_input_in_output", False),
        prompt_format=_prompt_format(request.parameters),
    )


def _output(name: str, array: npt.NDArray[Any], datatype: str) -> InferOutput:
    output = InferOutput(name=name, shape=list(array.shape), datatype=datatype)
    output.set_data_from_numpy(array, binary_data=True)
    return output


def encode_response(
    request: InferRequest, decoded: TierRequest, completion: Completion, model_name: str
) -> InferResponse:
    """Builds the v2 response; unless exclude_input_in_output, each text starts with the prompt."""
    prefix = "" if decoded.exclude_input_in_output else decoded.prompt
    texts = np.array([(prefix + t).encode("utf-8") for t in completion.texts], dtype=np.object_)
    reasons = np.array([r.encode("ascii") for r in completion.finish_reasons], dtype=np.object_)
    outputs = [
        _output("text_output", texts, "BYTES"),
        _output("finish_reason", reasons, "BYTES"),
        _output(
            "num_input_tokens", np.array([completion.prompt_tokens], dtype=np.uint32), "UINT32"
        ),
        _output(
            "num_output_tokens", np.array(completion.completion_tokens, dtype=np.uint32), "UINT32"
        ),
    ]
    return InferResponse(
        response_id=request.id or "",
        model_name=model_name,
        infer_outputs=outputs,
        # REST honours the request's `binary_data_output`; gRPC always gets raw contents.
        use_binary_outputs=bool(request.use_binary_outputs),
        requested_outputs=request.request_outputs,
    )


def describe(types: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Copies for `Model.get_input_types`/`get_output_types` (KServe may mutate what it gets)."""
    return [dict(t) for t in types]
