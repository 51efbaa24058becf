"""Outgoing gRPC channels, all made the same way: size limits, client-side load balancing,
trace/identity interceptor.

Load spreading (docs/load-balancing.md). A peer's Service in the cluster is headless, so its DNS
name resolves to one address per ready pod. A plain `host:port` is dialled as
`dns:///host:port` with the `round_robin` policy: the channel keeps a connection to every
address and spreads calls over them (gRPC's default, `pick_first`, would send every call of a
client to one pod). The server side closes connections after `max_connection_age_s`
(`codecascade.mesh.server`), and a closed connection makes the channel resolve the name again,
which is how a client picks up new replicas. An address that already names a resolver
(`dns:`, `ipv4:`, `ipv6:`, `unix:`, ...) is used as it is.
"""

from __future__ import annotations

import json
import re

import grpc

from codecascade.mesh.interceptors import ClientInterceptor
from codecascade.mesh.settings import (
    DEFAULT_LB_POLICY,
    DEFAULT_MAX_MESSAGE_BYTES,
    ChannelOptions,
    LbPolicy,
)
from codecascade.mesh.telemetry import rpc_client_interceptors

__all__ = [
    "DEFAULT_LB_POLICY",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "ChannelOptions",
    "LbPolicy",
    "channel_arguments",
    "channel_target",
    "open_channel",
]

# A target that already names its resolver: `scheme:` followed by anything but a port number.
# (`host:50051` is a host and a port; `dns:///host:50051`, `ipv4:127.0.0.1:1` name a scheme.)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\d+$)")


def channel_target(address: str) -> str:
    """The gRPC target for a mesh address: `host:port` becomes `dns:///host:port` (resolved by
    gRPC's DNS resolver, every A/AAAA record a backend); a target with a scheme is kept."""
    if _SCHEME.match(address):
        return address
    return f"dns:///{address}"


def channel_arguments(options: ChannelOptions) -> list[tuple[str, str | int]]:
    """Channel arguments for `options` (also for clients built by libraries that take a list of
    channel arguments, like tritonclient's `channel_args`)."""
    service_config: dict[str, object] = {"loadBalancingConfig": [{options.lb_policy: {}}]}
    return [
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.max_send_message_length", options.max_message_bytes),
        ("grpc.lb_policy_name", options.lb_policy),
        ("grpc.service_config", json.dumps(service_config)),
    ]


def open_channel(
    address: str,
    *,
    max_message_bytes: int | None = None,
    options: ChannelOptions | None = None,
) -> grpc.aio.Channel:
    """An insecure aio channel to a mesh peer (in a cluster, the mesh or a sidecar adds mTLS).

    `options` defaults to `ChannelOptions()` (round_robin, 16 MiB); `max_message_bytes`, when
    given, overrides its size limit.
    """
    chosen = options if options is not None else ChannelOptions()
    if max_message_bytes is not None:
        chosen = ChannelOptions(chosen.lb_policy, max_message_bytes)
    return grpc.aio.insecure_channel(
        channel_target(address),
        options=channel_arguments(chosen),
        interceptors=[*rpc_client_interceptors(), ClientInterceptor()],
    )
