"""CascadeService over real gRPC in-process; tiers, tests and sandbox are scripted doubles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.mesh.settings import ServiceSettings
from codecascade.router.cascade import Cascade
from codecascade.router.policy import CascadePolicy, TierPolicy
from codecascade.router.servicer import CascadeServicer
from codecascade.tierclient.errors import TierUnavailable
from codecascade.v1 import cascade_service_pb2 as pb
from codecascade.v1 import cascade_service_pb2_grpc as pb_grpc
from tests.unit.router.test_cascade import Scripted

T, F = True, False


class _Service:
    def __init__(self, cascade: Cascade) -> None:
        self.cascade = cascade

    service_names = ("codecascade.v1.CascadeService",)

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_CascadeServiceServicer_to_server(CascadeServicer(self.cascade), server)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def _cascade(scripted: Scripted) -> Cascade:
    policy = CascadePolicy(
        tiers=(
            TierPolicy(tier="S", k=2, test_lines=2, threshold=0.9),
            TierPolicy(tier="M", k=2, test_lines=2, test_generations=3, threshold=0.9),
        )
    )
    return Cascade(policy, scripted, scripted, scripted)


async def _stub_for(scripted: Scripted) -> AsyncIterator[pb_grpc.CascadeServiceStub]:
    settings = ServiceSettings(grpc_port=0)
    async with running_server(settings, _Service(_cascade(scripted))) as server:
        async with open_channel(server.address) as channel:
            yield pb_grpc.CascadeServiceStub(channel)


@pytest.fixture
async def stub() -> AsyncIterator[pb_grpc.CascadeServiceStub]:
    scripted = Scripted({"S": "meh", "M": "ok"}, {}, {"S": [[T, F], [F, F]], "M": [[T, T], [T, T]]})
    async for value in _stub_for(scripted):
        yield value


@pytest.fixture
async def down_stub() -> AsyncIterator[pb_grpc.CascadeServiceStub]:
    scripted = Scripted({"S": TierUnavailable("a"), "M": TierUnavailable("b")}, {}, {})
    async for value in _stub_for(scripted):
        yield value


def _request(prompt: str = "def f(x):\n    '''Identity.'''\n", **overrides) -> pb.GenerateRequest:
    request = pb.GenerateRequest(task=pb.Task(prompt=prompt), seed=1)
    for key, value in overrides.items():
        setattr(request.overrides, key, value)
    return request


async def test_generate_returns_answer_and_path(stub) -> None:
    response = await stub.Generate(_request(), timeout=30)
    assert response.tier == "M" and response.decision == pb.DECISION_ACCEPTED
    assert [a.tier for a in response.attempts] == ["S", "M"]
    assert response.attempts[0].decision == pb.DECISION_ESCALATED
    assert response.attempts[0].matrix.passes_per_solution == [1, 0]
    assert response.matrix.best_solution == 0 and response.score == pytest.approx(1.0)
    assert response.usage.cost_usd > 0 and len(response.trace_id) == 32
    # t is reported as the tier used it: k when the policy leaves it unset, else the policy's.
    assert [a.test_generations for a in response.attempts] == [2, 3]


async def test_stream_reports_each_step_then_completes(stub) -> None:
    messages = [
        message
        async for message in stub.GenerateStream(
            pb.GenerateStreamRequest(request=_request()), timeout=30
        )
    ]
    kinds = [message.WhichOneof("event") for message in messages]
    started = [m.tier_started for m in messages if m.WhichOneof("event") == "tier_started"]
    assert [(s.tier, s.k, s.test_lines, s.test_generations) for s in started] == [
        ("S", 2, 2, 2),
        ("M", 2, 2, 3),
    ]
    assert kinds == [
        "tier_started",
        "candidates_generated",
        "tests_executed",
        "escalated",
        "tier_started",
        "candidates_generated",
        "tests_executed",
        "completed",
    ]


@pytest.mark.parametrize(
    ("request_", "needle"),
    [
        (_request(prompt="Say hi."), "no function"),
        (_request(max_tier="XL"), "max_tier"),
        (_request(threshold=2.0), "threshold"),
        (_request(prompt="x" * 40_000), "larger than"),
    ],
)
async def test_bad_requests_are_invalid_argument(stub, request_, needle) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Generate(request_, timeout=30)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (caught.value.details() or "")


async def test_all_tiers_down_is_unavailable(down_stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await down_stub.Generate(_request(), timeout=30)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "S: tier unavailable: a" in (caught.value.details() or "")
    events = []
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        async for message in down_stub.GenerateStream(
            pb.GenerateStreamRequest(request=_request()), timeout=30
        ):
            events.append(message.WhichOneof("event"))
    assert streamed.value.code() is grpc.StatusCode.UNAVAILABLE
    assert events[0] == "tier_started"


async def test_metrics_endpoint_serves_rpc_and_cascade_metrics_with_trace_exemplars() -> None:
    import urllib.request

    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    from codecascade.cli.supervisor import free_port
    from codecascade.router.metrics import RouterMetrics

    scripted = Scripted({"S": "meh", "M": "ok"}, {}, {"S": [[T, F], [F, F]], "M": [[T, T], [T, T]]})
    registry = CollectorRegistry()
    cascade = Cascade(
        _cascade(scripted).policy,
        scripted,
        scripted,
        scripted,
        observers=(RouterMetrics.create(registry).observe,),
        tracer_provider=TracerProvider(),  # sampled spans: exemplars point at exported traces
    )
    settings = ServiceSettings(grpc_port=0, metrics_port=free_port())

    def scrape(url: str, accept: str) -> str:
        request = urllib.request.Request(url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=5) as reply:
            return str(reply.read().decode())

    async with running_server(settings, _Service(cascade), registry=registry) as server:
        async with open_channel(server.address) as channel:
            response = await pb_grpc.CascadeServiceStub(channel).Generate(_request(), timeout=30)
        url = f"http://127.0.0.1:{server.metrics_port}/metrics"
        text = await asyncio.to_thread(scrape, url, "text/plain")
        openmetrics = await asyncio.to_thread(
            scrape, url, "application/openmetrics-text; version=1.0.0; charset=utf-8"
        )
    assert (
        'codecascade_escalations_total{from_tier="S",reason="below_threshold",to_tier="M"} 1.0'
        in text
    )
    assert (
        "codecascade_rpc_server_handled_total"
        '{code="OK",method="/codecascade.v1.CascadeService/Generate"} 1.0' in text
    )
    # OpenMetrics, as Prometheus asks with exemplar storage on: the escalation and the tier
    # latency carry the trace id the response reported.
    assert response.trace_id and response.trace_id.strip("0")
    exemplar = f'# {{trace_id="{response.trace_id}"}}'
    assert (
        'codecascade_escalations_total{from_tier="S",reason="below_threshold",to_tier="M"} 1.0 '
        + exemplar
        in openmetrics
    )
    assert any(
        line.startswith("codecascade_tier_duration_seconds_bucket{") and exemplar in line
        for line in openmetrics.splitlines()
    )
    assert exemplar not in text  # the classic text format has no exemplars
