"""Outgoing gRPC channels, all made the same way: size limits, trace/identity interceptor."""

from __future__ import annotations

import grpc

from codecascade.mesh.interceptors import ClientInterceptor

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "open_channel"]

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def open_channel(
    address: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> grpc.aio.Channel:
    """An insecure aio channel to a mesh peer (in a cluster, the mesh or a sidecar adds mTLS)."""
    return grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
        interceptors=[ClientInterceptor()],
    )
