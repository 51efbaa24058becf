"""Tensor-level checks against the real S server, with raw tritonclient requests.

These go through the server rather than importing KServe here: kserve and tritonclient register
the same `inference.*` protobuf symbols under different file names, so one process cannot import
both ("duplicate symbol 'inference.ServerLiveRequest'").
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def _bytes(name: str, value: bytes) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, [1], "BYTES")
    tensor.set_data_from_numpy(np.array([value], dtype=np.object_))
    return tensor


def _bool(name: str, value: bool) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, [1], "BOOL")
    tensor.set_data_from_numpy(np.array([value], dtype=np.bool_))
    return tensor


@pytest.fixture
def client(tier_s: Any) -> Any:
    connection = grpcclient.InferenceServerClient(f"127.0.0.1:{tier_s.grpc_port}")
    yield connection
    connection.close()


def test_prompt_is_echoed_unless_excluded(client: Any) -> None:
    params = _bytes("sampling_parameters", json.dumps({"max_tokens": 3}).encode())
    echoed = client.infer("S", [_bytes("text_input", b"Q: 1+1? A:"), params])
    assert echoed.as_numpy("text_output")[0].startswith(b"Q: 1+1? A:")
    excluded = client.infer(
        "S",
        [_bytes("text_input", b"Q: 1+1? A:"), params, _bool("exclude_input_in_output", True)],
        parameters={"prompt_format": "raw"},
    )
    assert not excluded.as_numpy("text_output")[0].startswith(b"Q:")
    assert excluded.as_numpy("num_output_tokens").tolist() == [3]
    assert excluded.as_numpy("num_input_tokens").dtype == np.uint32


@pytest.mark.parametrize(
    ("inputs", "parameters", "fragment"),
    [
        ([], None, "text_input is required"),
        ([_bytes("text_input", b"\xff")], None, "not valid UTF-8"),
        ([_bytes("text_input", b"x"), _bytes("bogus", b"x")], None, "unknown input tensor"),
        ([_bytes("text_input", b"x"), _bool("stream", True)], None, "stream=true"),
        ([_bytes("text_input", b"x")], {"prompt_format": "json"}, "prompt_format"),
        ([_bytes("text_input", b"x"), _bytes("sampling_parameters", b"{")], None, "JSON"),
    ],
)
def test_malformed_requests_are_invalid_argument(
    client: Any, inputs: list[Any], parameters: dict[str, str] | None, fragment: str
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.infer("S", inputs, parameters=parameters)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert fragment in caught.value.message()
