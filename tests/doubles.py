"""Test doubles shared by several test modules (never used by product code)."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, start_http_server

from codecascade.core.sampling import SamplingParams
from codecascade.core.tiers import TierSpec
from codecascade.tierclient.client import TierResult
from codecascade.tierclient.registry import TierRegistry

HUMANEVAL_INC = 'def inc(x: int) -> int:\n    """Return x + 1.\n    >>> inc(1)\n    2\n    """\n'


class ScriptedTier:
    """A TierClient test double that returns canned texts and records the call."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        self.texts = texts
        self.calls: list[tuple[str, SamplingParams, str | None]] = []

    @property
    def spec(self) -> TierSpec:
        return TierSpec(name="S", address="x:1", model="m", price_per_1k_tokens=1.0)

    async def generate(self, prompt, params, *, timeout_s=None, prompt_format=None) -> TierResult:
        self.calls.append((prompt, params, prompt_format))
        return TierResult("S", "m", self.texts, ("stop",) * len(self.texts), 10, 20, 0.02, 0.1, 1)

    async def ready(self, *, timeout_s: float = 5.0) -> bool:
        return True

    async def close(self) -> None:
        return None


def scripted_registry(tier: ScriptedTier, prompt_format: str = "chat") -> TierRegistry:
    config = TierSpec(
        name="S", address="x:1", model="m", price_per_1k_tokens=1.0, prompt_format=prompt_format
    )
    return TierRegistry([config], {"S": tier})


class OipTierDouble:
    """A tier server on the wire for tests where model output does not matter: OIP v2 over gRPC
    (tritonclient's own generated stubs, as a KServe or Triton tier speaks it), plus a /metrics
    endpoint a Prometheus can scrape as the tier's target.

    Each ModelInfer answers every one of the n samples with `answer(prompt)`, and reports each
    sample as `max_tokens` generated tokens: the worst case the router reserves is then exactly
    what it is charged, so a test can spend a budget to the nanodollar. `stop()` takes the tier
    down (gRPC and /metrics) the way a crashed replica goes.
    """

    def __init__(self, model: str, answer: Callable[[str], str]) -> None:
        self.model = model
        self.answer = answer
        self.calls = 0
        self.address = ""
        self.metrics_port = 0
        self._server: grpc.aio.Server | None = None
        self._metrics: tuple[WSGIServer, threading.Thread] | None = None

    async def start(self) -> None:
        from tritonclient.grpc import service_pb2_grpc

        servicer = _oip_servicer(self, service_pb2_grpc.GRPCInferenceServiceServicer)
        self._server = grpc.aio.server()
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.address = f"127.0.0.1:{port}"
        self._metrics = start_http_server(0, addr="127.0.0.1", registry=CollectorRegistry())
        self.metrics_port = int(self._metrics[0].server_port)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
            self._server = None
        if self._metrics is not None:
            server, thread = self._metrics
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._metrics = None


def _bytes_tensor(values: Sequence[str]) -> bytes:
    # OIP BYTES tensors travel as 4-byte little-endian lengths, each followed by the bytes.
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def _oip_servicer(double: OipTierDouble, base: type[Any]) -> Any:
    from tritonclient.grpc import service_pb2

    class Servicer(base):  # type: ignore[misc]
        async def ServerReady(self, request: Any, context: Any) -> Any:
            return service_pb2.ServerReadyResponse(ready=True)

        async def ModelReady(self, request: Any, context: Any) -> Any:
            return service_pb2.ModelReadyResponse(ready=request.name == double.model)

        async def ModelInfer(self, request: Any, context: Any) -> Any:
            double.calls += 1
            raw = dict(
                zip((i.name for i in request.inputs), request.raw_input_contents, strict=True)
            )
            prompt = raw["text_input"][4:].decode()
            params = json.loads(raw["sampling_parameters"][4:].decode())
            n, tokens = int(params.get("n", 1)), int(params.get("max_tokens", 16))
            response = service_pb2.ModelInferResponse(model_name=request.model_name, id=request.id)
            outputs = (
                ("text_output", "BYTES", [n], _bytes_tensor([double.answer(prompt)] * n)),
                ("finish_reason", "BYTES", [n], _bytes_tensor(["length"] * n)),
                ("num_output_tokens", "INT32", [n], struct.pack(f"<{n}i", *[tokens] * n)),
                ("num_input_tokens", "INT32", [1], struct.pack("<i", len(prompt.split()))),
            )
            for name, datatype, shape, content in outputs:
                output = response.outputs.add()
                output.name, output.datatype = name, datatype
                output.shape.extend(shape)
                response.raw_output_contents.append(content)
            return response

    return Servicer()
