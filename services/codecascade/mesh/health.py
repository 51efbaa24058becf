"""Client side of grpc.health.v1: asking a peer whether it is SERVING.

The typed stubs shipped for grpcio-health-checking leave `HealthStub.Check` undeclared, so the
call is built from the method path; the messages are the package's own.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2

__all__ = ["is_serving"]

_CHECK = "/grpc.health.v1.Health/Check"


async def is_serving(channel: grpc.aio.Channel, *, service: str = "", timeout_s: float) -> bool:
    """True when the peer reports SERVING for `service` ("" is the whole server)."""
    check = channel.unary_unary(
        _CHECK,
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    try:
        reply = await check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
