"""KServe's model server with gRPC connection ageing, so tier clients spread over new replicas.

The router and test synthesis dial a tier with `dns:///` and round_robin (docs/load-balancing.md):
they reach every replica their last name resolution returned, and resolve again only when a
connection closes. The mesh's own servers close connections after `max_connection_age_s`; KServe's
`GRPCServer.start` (kserve 0.21, `protocol/grpc/server.py`) builds its `grpc.aio.server` with the
two message-size options and nothing else, so a tier scaled out kept its clients on the old pods.
`AgingGRPCServer` is that server with `TierSettings.connection_ageing_options()` added;
`TierModelServer` runs it in place of KServe's (same servicer, interceptors, port, graceful stop).
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from grpc import aio
from kserve import ModelServer
from kserve.model import BaseKServeModel
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer

__all__ = ["AgingGRPCServer", "TierModelServer"]


class AgingGRPCServer(GRPCServer):  # type: ignore[misc]  # kserve ships no type information
    """KServe's v2 gRPC server, started with extra server options (connection ageing)."""

    def __init__(self, *args: Any, extra_options: list[tuple[str, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._extra_options = extra_options

    async def start(self, max_workers: int) -> None:
        # As GRPCServer.start, with the extra options after KServe's message-size ones.
        servicer = InferenceServicer(self._data_plane, self._model_repository_extension)
        sizes = ("grpc_max_send_message_length", "grpc_max_receive_message_length")
        options = [
            *((f"grpc.{key.removeprefix('grpc_')}", self._kwargs.get(key)) for key in sizes),
            *self._extra_options,
        ]
        self._server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
            options=[(key, value) for key, value in options if value is not None],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        self._server.add_insecure_port(f"[::]:{self._port}")
        await self._server.start()
        await self._server.wait_for_termination()


class TierModelServer(ModelServer):  # type: ignore[misc]  # kserve ships no type information
    """KServe's ModelServer whose gRPC server is an `AgingGRPCServer`. KServe's own stays off
    (`enable_grpc=False`); ours is added to the servers `start` runs and is what `stop` stops."""

    def __init__(self, *, grpc_options: list[tuple[str, int]], **kwargs: Any) -> None:
        super().__init__(enable_grpc=False, **kwargs)
        self._grpc_options = grpc_options

    def start(self, models: list[BaseKServeModel]) -> None:
        from kserve.model_server import args as kserve_args

        server = AgingGRPCServer(
            self.grpc_port,
            self.dataplane,
            self.model_repository_extension,
            kwargs=vars(kserve_args),
            grace_period=self.grace_period,
            extra_options=self._grpc_options,
        )
        self._grpc_server = server
        self.servers.append(server.start(self.max_threads))
        super().start(models)
