"""KEDA's External Scaler contract, called the way KEDA's operator calls it, over gRPC.

The real service (`AutoscalerService`: loop, servicer, health) runs in-process on 127.0.0.1:0 with
a test double behind its `SignalSource` port; the client is a plain stub of
`externalscaler.ExternalScaler`, with a ScaledObjectRef whose `scalerMetadata` is the trigger's
metadata, as KEDA sends it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from codecascade.autoscaler.config import AutoscalerSettings
from codecascade.autoscaler.server import AutoscalerService
from codecascade.autoscaler.signals import Snapshot
from codecascade.core.errors import Unavailable
from codecascade.keda import externalscaler_pb2 as pb
from codecascade.keda import externalscaler_pb2_grpc as pb_grpc
from codecascade.mesh.server import running_server

IDLE = Snapshot(window_s=10)
# 4 requests in M; half of M's finishes escalated; M takes 2 s: 1/s forecast into L.
ESCALATING = Snapshot(
    window_s=10,
    arrivals={"S": 10, "M": 4},
    finished={"S": 10, "M": 4},
    busy_s={"S": 10, "M": 8},
    in_flight={"M": 4},
    escalations={("S", "M"): 4, ("M", "L"): 2},
)


class Signals:
    """The SignalSource port: whatever the test sets, or a failure."""

    def __init__(self) -> None:
        self.current = IDLE
        self.failing = False

    async def snapshot(self) -> Snapshot:
        if self.failing:
            raise Unavailable("prometheus at http://prom:9090: connection refused")
        return self.current

    async def aclose(self) -> None:
        return None


def _settings(**overrides: object) -> AutoscalerSettings:
    return AutoscalerSettings.load(
        grpc_port=0,
        poll_interval_s=0.05,
        stabilisation_window_s=0.5,
        escalation_prior=0.0,
        escalation_prior_weight=0,
        stale_after_s=0.5,
        tiers={
            "L": {"latency_s": 1.5, "capacity": 2.0, "target_utilisation": 0.5, "max_replicas": 3}
        },
        **overrides,
    )


@pytest.fixture
async def scaler() -> AsyncIterator[tuple[pb_grpc.ExternalScalerStub, Signals, grpc.aio.Channel]]:
    signals = Signals()
    settings = _settings()
    async with running_server(settings, AutoscalerService(settings, signals)) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield pb_grpc.ExternalScalerStub(channel), signals, channel


def ref(tier: str | None = "L") -> pb.ScaledObjectRef:
    metadata = {"tier": tier} if tier is not None else {}
    return pb.ScaledObjectRef(name="codecascade-tier-l", namespace="cc", scalerMetadata=metadata)


async def _until(predicate, timeout_s: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_metric_spec_and_metrics_reproduce_the_recommendation_through_kedas_formula(
    scaler,
) -> None:
    stub, signals, channel = scaler
    health = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="externalscaler.ExternalScaler")
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    spec = await stub.GetMetricSpec(ref(), timeout=5)
    (metric,) = spec.metricSpecs
    assert metric.targetSizeFloat == pytest.approx(1.0)  # capacity 2 x utilisation 0.5
    assert not (await stub.IsActive(ref(), timeout=5)).result
    idle = await stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref(), metricName="s0-x"))
    assert idle.metricValues[0].metricValueFloat == 0
    assert idle.metricValues[0].metricName == "s0-x"

    signals.current = ESCALATING

    async def active() -> bool:
        return (await stub.IsActive(ref(), timeout=5)).result

    await _until(active)
    values = await stub.GetMetrics(
        pb.GetMetricsRequest(scaledObjectRef=ref(), metricName=metric.metricName), timeout=5
    )
    value = values.metricValues[0].metricValueFloat
    # Forecast 1/s x 1.5 s = 1.5 slots over 1 slot per replica -> 2 replicas; KEDA's HPA:
    # ceil(value / target), after KEDA truncates both to milli-units.
    kedas = math.ceil(int(value * 1000) / int(metric.targetSizeFloat * 1000))
    assert kedas == 2


async def test_stream_is_active_pushes_activation_and_deactivation(scaler) -> None:
    stub, signals, _ = scaler
    stream = stub.StreamIsActive(ref())
    first = await asyncio.wait_for(stream.read(), 5)
    assert first.result is False
    signals.current = ESCALATING
    pushed = await asyncio.wait_for(stream.read(), 2)  # without polling IsActive
    assert pushed.result is True
    signals.current = IDLE
    dropped = await asyncio.wait_for(stream.read(), 3)  # after the 0.5 s window
    assert dropped.result is False
    stream.cancel()


async def test_bad_metadata_is_invalid_argument_with_what_to_fix(scaler) -> None:
    stub, _, _ = scaler
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.IsActive(ref(None), timeout=5)
    assert missing.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata: {tier: <name>}" in (missing.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.GetMetricSpec(ref("XL"), timeout=5)
    assert unknown.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "'XL' is not in the autoscaler's chain ['S', 'M', 'L']" in (
        unknown.value.details() or ""
    )
    stream = stub.StreamIsActive(ref("XL"))
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        await stream.read()
    assert streamed.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_stream_metric_spec_is_unimplemented(scaler) -> None:
    stub, _, _ = scaler
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.StreamMetricSpec(ref()).read()
    assert failed.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_unreadable_signals_are_unavailable_once_the_decision_is_stale(scaler) -> None:
    stub, signals, _ = scaler
    signals.failing = True

    async def unavailable() -> bool:
        try:
            await stub.IsActive(ref(), timeout=5)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAVAILABLE
            assert "connection refused" in (exc.details() or "")
            return True
        return False

    stream = stub.StreamIsActive(ref())
    await _until(unavailable)
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        async for _ in stream:
            pass
    assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
    signals.failing = False

    async def recovered() -> bool:
        return not await unavailable()

    await _until(recovered)
