"""The sandbox service over real gRPC, in-process, with a test-double backend.

What is checked here is the service's contract (status codes, messages, health, reflection,
tracing, deadlines), not isolation: tests/integration/sandbox runs the real gVisor backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codecascade.mesh.channels import open_channel
from codecascade.mesh.health import is_serving
from codecascade.mesh.server import RunningServer, running_server
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.errors import PoolExhausted
from codecascade.sandbox.execution import (
    ExecutionJob,
    ExecutionReport,
    Outcome,
    SolutionResult,
    TestResult,
)
from codecascade.sandbox.server import SandboxService
from codecascade.v1 import sandbox_service_pb2 as pb
from codecascade.v1 import sandbox_service_pb2_grpc as pb_grpc


class RecordingBackend:
    """Passes every test; can be told to stall or fail, and records what it was asked."""

    name = "test-double"

    def __init__(self) -> None:
        self.jobs: list[tuple[ExecutionJob, float]] = []
        self.stall_s = 0.0
        self.error: Exception | None = None
        self.closed = False

    async def start(self) -> None:
        return None

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        self.jobs.append((job, deadline_s))
        if self.error is not None:
            raise self.error
        await asyncio.sleep(self.stall_s)
        rows = tuple(
            SolutionResult(i, tuple(TestResult(j, Outcome.PASSED) for j in range(len(job.tests))))
            for i in range(len(job.solutions))
        )
        return ExecutionReport(rows, self.name, 0.01, job.limits)

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
async def server(
    backend: RecordingBackend, provider: TracerProvider
) -> AsyncIterator[RunningServer]:
    settings = SandboxSettings(grpc_port=0, max_solutions=4, max_tests=5, max_code_bytes=1000)
    async with running_server(
        settings, SandboxService(settings, backend), tracer_provider=provider
    ) as running:
        yield running


@pytest.fixture
async def stub(server: RunningServer) -> AsyncIterator[pb_grpc.SandboxServiceStub]:
    async with open_channel(server.address) as channel:
        yield pb_grpc.SandboxServiceStub(channel)


def _request(**overrides: object) -> pb.ExecuteRequest:
    fields: dict[str, object] = {
        "solutions": ["def f(x):\n    return x\n"],
        "tests": ["assert f(1) == 1"],
        "entry_point": "f",
    }
    fields.update(overrides)
    return pb.ExecuteRequest(**fields)  # type: ignore[arg-type]


async def _status(
    stub: pb_grpc.SandboxServiceStub, request: pb.ExecuteRequest
) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(request, timeout=10)
    return caught.value.code(), caught.value.details() or ""


async def test_execute_returns_the_matrix_with_applied_limits(stub, backend) -> None:
    request = _request(solutions=["def f(x): return x", "def f(x): return 1"])
    request.limits.test_timeout.FromSeconds(999)
    response = await stub.Execute(request, timeout=10)
    assert [len(row.tests) for row in response.solutions] == [1, 1]
    assert response.solutions[1].tests[0].outcome == pb.OUTCOME_PASSED
    assert response.applied_limits.test_timeout.ToSeconds() == 10  # capped at the server maximum
    job, deadline = backend.jobs[0]
    assert job.limits.test_timeout_s == 10.0
    # gRPC sends the timeout rounded up to its wire units, so the server may see a little over 10 s.
    assert 0 < deadline <= 10.2


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"solutions": []}, "no solutions"),
        ({"tests": []}, "no tests"),
        ({"solutions": ["x = 1"] * 5}, "at most 4"),
        ({"tests": ["assert True"] * 6}, "at most 5"),
        ({"solutions": ["#" * 1001]}, "1001 bytes"),
        ({"tests": ["   "]}, "test 0 is empty"),
        ({"entry_point": "not valid"}, "entry_point"),
        ({"entry_point": "class"}, "entry_point"),
    ],
)
async def test_bad_input_is_invalid_argument_with_a_message(
    stub, backend, overrides, needle
) -> None:
    code, details = await _status(stub, _request(**overrides))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert needle in details
    assert backend.jobs == []


async def test_negative_limits_are_rejected(stub) -> None:
    request = _request()
    request.limits.memory_bytes = -1
    code, details = await _status(stub, request)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "memory_bytes" in details


async def test_non_utf8_bytes_are_invalid_argument_not_internal(server) -> None:
    # Field 1 (solutions), length 2, bytes that are not UTF-8.
    raw = b"\x0a\x02\xff\xfe" + _request().SerializeToString()
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = channel.unary_unary("/codecascade.v1.SandboxService/Execute")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(raw, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "UTF-8" in (caught.value.details() or "")


async def test_bad_tenant_metadata_is_invalid_argument(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(_request(), timeout=10, metadata=(("x-tenant-id", "no spaces please"),))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "x-tenant-id" in (caught.value.details() or "")


async def test_tenant_and_request_id_reach_the_backend_and_come_back(stub, backend) -> None:
    call = stub.Execute(
        _request(), timeout=10, metadata=(("x-tenant-id", "acme"), ("x-request-id", "req-1"))
    )
    await call
    job, _ = backend.jobs[0]
    assert (job.tenant, job.request_id) == ("acme", "req-1")
    assert ("x-request-id", "req-1") in tuple(await call.trailing_metadata())


async def test_pool_exhausted_is_resource_exhausted(stub, backend) -> None:
    backend.error = PoolExhausted("no sandbox free within 5 s; retry later")
    code, details = await _status(stub, _request())
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "retry" in details


async def test_unexpected_errors_are_internal_without_details(stub, backend) -> None:
    backend.error = RuntimeError("secret path /var/lib/x")
    code, details = await _status(stub, _request())
    assert code is grpc.StatusCode.INTERNAL
    assert "secret" not in details and "Traceback" not in details


async def test_deadline_is_passed_down_and_enforced(stub, backend) -> None:
    backend.stall_s = 5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(_request(), timeout=0.5)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    _, deadline = backend.jobs[0]
    assert deadline < 0.5


async def test_health_and_reflection(server) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(server.address) as channel:
        assert await is_serving(channel, timeout_s=5)
        assert await is_serving(channel, service="codecascade.v1.SandboxService", timeout_s=5)
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = [reply async for reply in reflect.ServerReflectionInfo(iter([request]))]
    services = {s.name for s in replies[0].list_services_response.service}
    assert "codecascade.v1.SandboxService" in services


async def test_trace_context_crosses_the_call(stub, provider, exporter) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("client") as parent:
        await stub.Execute(_request(), timeout=10, metadata=(("x-tenant-id", "acme"),))
    server_spans = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert len(server_spans) == 1
    span = server_spans[0]
    assert span.name == "codecascade.v1.SandboxService/Execute"
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.attributes is not None and span.attributes["codecascade.tenant"] == "acme"


async def test_graceful_shutdown_finishes_in_flight_calls(backend, provider) -> None:
    settings = SandboxSettings(grpc_port=0, shutdown_grace_s=5)
    backend.stall_s = 0.5
    async with running_server(settings, SandboxService(settings, backend)) as running:
        channel = open_channel(running.address)
        call = asyncio.ensure_future(
            pb_grpc.SandboxServiceStub(channel).Execute(_request(), timeout=10)
        )
        await asyncio.sleep(0.2)
    response = await call
    await channel.close()
    assert len(response.solutions) == 1
    assert backend.closed
