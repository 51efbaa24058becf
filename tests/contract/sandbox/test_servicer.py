"""The sandbox service over real gRPC, in-process, with a test-double backend.

What is checked here is the service's contract (status codes, messages, health, reflection,
tracing, deadlines, metrics), not isolation: tests/integration/sandbox runs the real gVisor backend.
Nothing waits on the clock: the double says when a job is in flight and holds it until told.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.request
from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from codecascade.mesh.channels import open_channel
from codecascade.mesh.health import is_serving
from codecascade.mesh.logs import JsonFormatter
from codecascade.mesh.metrics import MetricsEndpoint
from codecascade.mesh.server import RunningServer, running_server
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.errors import PoolExhausted
from codecascade.sandbox.execution import (
    CellResult,
    ExecutionJob,
    ExecutionReport,
    Outcome,
    SolutionResult,
)
from codecascade.sandbox.metrics import SandboxMetrics
from codecascade.sandbox.server import SandboxService
from codecascade.v1 import sandbox_service_pb2 as pb
from codecascade.v1 import sandbox_service_pb2_grpc as pb_grpc


class RecordingBackend:
    """Passes every test; can be told to hold jobs, fail or report reruns; records what it got.

    `in_flight` is set when a job has reached the backend; with `hold` the job then waits for
    `release`, so a test acts while a call is certainly running instead of sleeping.
    """

    name = "test-double"

    def __init__(self) -> None:
        self.jobs: list[tuple[ExecutionJob, float]] = []
        self.hold = False
        self.in_flight = asyncio.Event()
        self.release = asyncio.Event()
        self.error: Exception | None = None
        self.reruns: frozenset[int] = frozenset()
        self.closed = False

    async def start(self) -> None:
        return None

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        self.jobs.append((job, deadline_s))
        self.in_flight.set()
        if self.error is not None:
            raise self.error
        if self.hold:
            await self.release.wait()
        rows = tuple(
            SolutionResult(
                i,
                tuple(CellResult(j, Outcome.PASSED) for j in range(len(job.tests))),
                isolated_rerun=i in self.reruns,
            )
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
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def server(
    backend: RecordingBackend, provider: TracerProvider, registry: CollectorRegistry
) -> AsyncIterator[RunningServer]:
    settings = SandboxSettings(grpc_port=0, max_solutions=4, max_tests=5, max_code_bytes=1000)
    service = SandboxService(settings, backend, observer=SandboxMetrics.create(registry))
    async with running_server(
        settings, service, tracer_provider=provider, registry=registry
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
    backend.hold = True  # never released: only the deadline ends the call
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


async def test_one_json_log_line_per_call_answered_or_failed(
    stub, backend, provider, caplog: pytest.LogCaptureFixture
) -> None:
    """Every call leaves one line: method, status, duration, tenant, request id, trace id."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())  # formats at emit time, inside the call's span
    calls = logging.getLogger("codecascade.mesh.interceptors.calls")
    calls.addHandler(handler)
    caplog.set_level(logging.INFO, logger=calls.name)
    tracer = provider.get_tracer("test")
    try:
        with tracer.start_as_current_span("client") as parent:
            await stub.Execute(_request(), timeout=10, metadata=(("x-tenant-id", "acme"),))
            backend.error = PoolExhausted("no sandbox free within 5 s; retry later")
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Execute(_request(), timeout=10, metadata=(("x-request-id", "r-2"),))
    finally:
        calls.removeHandler(handler)
    answered, failed = (json.loads(line) for line in lines.getvalue().splitlines())
    trace_id = format(parent.get_span_context().trace_id, "032x")
    assert answered["rpc_method"] == "/codecascade.v1.SandboxService/Execute"
    assert answered["grpc_code"] == "OK" and answered["severity"] == "INFO"
    assert answered["duration_ms"] > 0 and answered["tenant"] == "acme"
    assert answered["trace_id"] == trace_id and "request_id" in answered
    assert failed["grpc_code"] == "RESOURCE_EXHAUSTED" and failed["severity"] == "WARNING"
    assert "no sandbox free" in failed["detail"]
    assert failed["tenant"] == "default" and failed["request_id"] == "r-2"
    assert failed["trace_id"] == trace_id


async def test_graceful_shutdown_finishes_in_flight_calls(
    backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SandboxSettings(grpc_port=0, shutdown_grace_s=60)
    backend.hold = True
    async with running_server(settings, SandboxService(settings, backend)) as running:
        channel = open_channel(running.address)
        call = asyncio.ensure_future(
            pb_grpc.SandboxServiceStub(channel).Execute(_request(), timeout=60)
        )
        await asyncio.wait_for(backend.in_flight.wait(), 30)
        stop = running.server.stop

        async def stop_then_release(grace: float | None) -> None:
            stopping = asyncio.ensure_future(stop(grace))
            # The loop runs callbacks in order: the stop's first step (refusing new calls,
            # waiting up to `grace` for running ones) comes before the job is released.
            asyncio.get_running_loop().call_soon(backend.release.set)
            await stopping

        monkeypatch.setattr(running.server, "stop", stop_then_release)
    response = await call
    await channel.close()
    assert len(response.solutions) == 1
    assert backend.closed


def _scrape(port: int, accept: str | None) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if accept is not None:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def _samples(text: str) -> dict[str, list[Sample]]:
    """Samples by family, without the `_created` timestamps."""
    return {
        family.name: [s for s in family.samples if not s.name.endswith("_created")]
        for family in text_string_to_metric_families(text)
    }


async def test_metrics_after_a_job_with_trace_exemplars_in_openmetrics(
    stub, backend, registry, provider
) -> None:
    backend.reruns = frozenset({1})
    request = _request(solutions=["def f(x): return x"] * 3, tests=["assert f(1) == 1"] * 2)
    with provider.get_tracer("test").start_as_current_span("client") as parent:
        await stub.Execute(request, timeout=10)
    trace_id = format(parent.get_span_context().trace_id, "032x")
    endpoint = MetricsEndpoint(registry, "127.0.0.1", 0)
    try:
        openmetrics = await asyncio.to_thread(
            _scrape, endpoint.port, "application/openmetrics-text; version=1.0.0"
        )
        classic = await asyncio.to_thread(_scrape, endpoint.port, None)
    finally:
        endpoint.close()

    samples = _samples(openmetrics)
    outcomes = {s.labels["outcome"]: s.value for s in samples["codecascade_sandbox_test_outcomes"]}
    assert outcomes == {
        "passed": 6,
        "failed": 0,
        "error": 0,
        "timeout": 0,
        "memory_exceeded": 0,
        "crashed": 0,
    }
    (reruns,) = samples["codecascade_sandbox_reruns"]
    assert reruns.value == 1
    assert reruns.exemplar is not None and reruns.exemplar.labels == {"trace_id": trace_id}
    job = samples["codecascade_sandbox_job_duration_seconds"]
    assert [s.value for s in job if s.name.endswith("_count")] == [1]
    assert [s.exemplar.labels for s in job if s.exemplar] == [{"trace_id": trace_id}]
    # The fake has no pool, so nothing moved the gauges; they exist, at zero.
    assert [s.value for s in samples["codecascade_sandbox_pool_ready"]] == [0]
    assert [s.value for s in samples["codecascade_sandbox_pool_in_use"]] == [0]
    assert "# UNIT codecascade_sandbox_job_duration_seconds seconds" in openmetrics
    # The shared interceptor's call latency carries the same trace.
    rpc = samples["codecascade_rpc_server_duration_seconds"]
    assert {"trace_id": trace_id} in [s.exemplar.labels for s in rpc if s.exemplar]
    # The classic text format, for scrapers that do not ask, has no exemplars.
    assert "codecascade_sandbox_reruns_total 1.0" in classic
    assert "trace_id" not in classic and "# EOF" not in classic
