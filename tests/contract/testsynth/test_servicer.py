"""TestSynthService over real gRPC in-process, with a scripted tier (no model)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.testsynth.config import SynthesisSettings
from codecascade.testsynth.server import SynthesisService
from codecascade.v1 import testsynth_service_pb2 as pb
from codecascade.v1 import testsynth_service_pb2_grpc as pb_grpc
from tests.doubles import HUMANEVAL_INC as HUMANEVAL
from tests.doubles import ScriptedTier, scripted_registry


@pytest.fixture
async def stub() -> AsyncIterator[pb_grpc.TestSynthServiceStub]:
    settings = SynthesisSettings(grpc_port=0)
    tier = ScriptedTier(("assert inc(1) == 2\nassert random.random() < 1",))
    async with running_server(
        settings, SynthesisService(settings, scripted_registry(tier))
    ) as server:
        async with open_channel(server.address) as channel:
            yield pb_grpc.TestSynthServiceStub(channel)


def _request(**overrides: object) -> pb.SynthesizeTestsRequest:
    fields: dict[str, object] = {
        "prompt": HUMANEVAL,
        "tier": "S",
        "generations": 1,
        "lines_per_generation": 4,
    }
    fields.update(overrides)
    return pb.SynthesizeTestsRequest(**fields)  # type: ignore[arg-type]


async def test_tests_and_dropped_lines_come_back(stub) -> None:
    response = await stub.SynthesizeTests(_request(seed=3), timeout=10)
    assert [t.code for t in response.tests] == ["assert inc(1) == 2"]
    assert response.tests[0].tier == "S"
    assert "random" in response.dropped[0].reason
    assert response.usage.completion_tokens == 20


@pytest.mark.parametrize(
    ("overrides", "code", "needle"),
    [
        ({"prompt": "Say hello."}, grpc.StatusCode.INVALID_ARGUMENT, "no function"),
        ({"prompt": ""}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        ({"generations": 0}, grpc.StatusCode.INVALID_ARGUMENT, "generations"),
        ({"lines_per_generation": 99}, grpc.StatusCode.INVALID_ARGUMENT, "lines_per_generation"),
        ({"tier": "XL"}, grpc.StatusCode.NOT_FOUND, "XL"),
    ],
)
async def test_bad_requests(stub, overrides, code, needle) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SynthesizeTests(_request(**overrides), timeout=10)
    assert caught.value.code() is code
    assert needle in (caught.value.details() or "")
