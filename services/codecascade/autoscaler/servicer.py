"""KEDA's External Scaler (`externalscaler.ExternalScaler`) over the loop's latest decision.

KEDA's operator calls this for each ScaledObject whose trigger is `external` (polled) or
`external-push` (streamed), with the trigger's metadata in `scalerMetadata`; `tier: L` names the
tier. KEDA scales 0 <-> 1 itself from IsActive / StreamIsActive, and 1 <-> N through an HPA that
computes desired = ceil(metric value / target size) on the metric from GetMetricSpec and
GetMetrics. The servicer only reads `Autoscaler`'s latest recommendation; it decides nothing.

Numbers for the HPA. The target size is one replica's work at the target utilisation
(capacity x target_utilisation), and the metric value is *not* the raw forecast work but the
value that makes KEDA's formula land on our own clamped, stabilised recommendation:
value = target x (replicas - 0.01). ceil(value / target) = replicas for any replicas >= 1, with
room for KEDA's conversion to milli-units (it truncates), so the HPA reproduces the clamp to
[min, max] and the scale-down window that the raw work would not carry. (Set the ScaledObject's
HPA scale-down stabilisation to 0: the value is already stabilised.)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from codecascade.autoscaler.control import Autoscaler
from codecascade.core.errors import InvalidInput, Unavailable, Unimplemented
from codecascade.keda import externalscaler_pb2 as pb
from codecascade.keda import externalscaler_pb2_grpc as pb_grpc

__all__ = ["ExternalScalerServicer", "metric_name", "metric_value"]

TIER_KEY = "tier"
# Keeps ceil(value / target) on the replica count through KEDA's milli-unit truncation.
_BELOW = 0.01


def metric_name(tier: str) -> str:
    """The metric this scaler reports for `tier` (KEDA prefixes it with the trigger index)."""
    return f"codecascade-tier-{tier.lower()}-work"


def metric_value(replicas: int, target: float) -> float:
    """The GetMetrics value whose ceil(value / target) is `replicas` (0 for 0)."""
    return 0.0 if replicas <= 0 else target * (replicas - _BELOW)


class ExternalScalerServicer(pb_grpc.ExternalScalerServicer):
    """Answers from `autoscaler.latest`; a decision older than `stale_after_s` is UNAVAILABLE
    (KEDA then applies the ScaledObject's fallback instead of scaling on old news)."""

    def __init__(
        self,
        autoscaler: Autoscaler,
        *,
        stale_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._autoscaler = autoscaler
        self._stale_after_s = stale_after_s
        self._clock = clock

    def _tier(self, ref: pb.ScaledObjectRef) -> str:
        chain = list(self._autoscaler.chain)
        tier = ref.scalerMetadata.get(TIER_KEY, "")
        where = f"ScaledObject {ref.namespace}/{ref.name}"
        if not tier:
            raise InvalidInput(
                f"{where}: the trigger's metadata names no tier; add `metadata: {{tier: <name>}}` "
                f"to its external trigger, with one of {chain}"
            )
        if not self._autoscaler.knows(tier):
            raise InvalidInput(
                f"{where}: tier {tier!r} is not in the autoscaler's chain {chain}; fix the "
                "trigger's metadata or the autoscaler's `chain` setting"
            )
        return tier

    def _fresh(self) -> None:
        latest = self._autoscaler.latest
        if latest is None or self._clock() - latest.at > self._stale_after_s:
            detail = self._autoscaler.last_error or "no poll has completed yet"
            raise Unavailable(f"the autoscaler cannot read its signals: {detail}")

    async def IsActive(self, request: pb.ScaledObjectRef, context: Any) -> pb.IsActiveResponse:
        tier = self._tier(request)
        self._fresh()
        return pb.IsActiveResponse(result=self._autoscaler.recommendation(tier).active)

    async def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: Any
    ) -> AsyncIterator[pb.IsActiveResponse]:
        """Sends the current state, then a message on every change, the poll it happens: the
        first forecast escalation reaches KEDA at once, not at its next pollingInterval. Once the
        decision goes stale (signals unreadable) the stream ends UNAVAILABLE, and KEDA, which
        reopens it with backoff, meanwhile applies the ScaledObject's fallback."""
        tier = self._tier(request)
        self._fresh()
        last = self._autoscaler.recommendation(tier).active
        yield pb.IsActiveResponse(result=last)
        while True:
            await self._autoscaler.changes()
            self._fresh()
            active = self._autoscaler.recommendation(tier).active
            if active != last:
                last = active
                yield pb.IsActiveResponse(result=active)

    async def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: Any
    ) -> pb.GetMetricSpecResponse:
        tier = self._tier(request)
        target = self._autoscaler.scaling(tier).replica_target
        return pb.GetMetricSpecResponse(
            metricSpecs=[
                pb.MetricSpec(
                    metricName=metric_name(tier),
                    targetSize=max(1, round(target)),
                    targetSizeFloat=target,
                )
            ]
        )

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: Any
    ) -> pb.GetMetricsResponse:
        tier = self._tier(request.scaledObjectRef)
        self._fresh()
        target = self._autoscaler.scaling(tier).replica_target
        value = metric_value(self._autoscaler.recommendation(tier).replicas, target)
        return pb.GetMetricsResponse(
            metricValues=[
                pb.MetricValue(
                    metricName=request.metricName or metric_name(tier),
                    metricValue=round(value),
                    metricValueFloat=value,
                )
            ]
        )

    async def StreamMetricSpec(
        self, request: pb.ScaledObjectRef, context: Any
    ) -> AsyncIterator[pb.GetMetricSpecResponse]:
        """Optional in KEDA's contract (UNIMPLEMENTED): the spec is fixed while we run."""
        none: tuple[pb.GetMetricSpecResponse, ...] = ()
        for spec in none:  # no message: the loop only makes this an async generator, as gRPC wants
            yield spec
        raise Unimplemented(
            "StreamMetricSpec: the metric spec is fixed per tier; use GetMetricSpec"
        )
