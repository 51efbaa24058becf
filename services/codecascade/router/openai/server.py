"""uvicorn inside the router's event loop: the OpenAI-compatible API on its own port.

The socket is bound before the server task starts, so the port is known (and connections queue)
at once; SIGTERM stays with the router's runner, which stops this server after the gRPC server
(in-flight HTTP requests get the same grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["HttpServer"]

_log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The router's runner owns SIGTERM and SIGINT; uvicorn must not take them."""
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # they are TCP, and with Nagle on, a keep-alive connection waits ~40 ms for the delayed ACK
    # between the response's head and its body.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} (HTTP): {exc.strerror}") from exc
    return sock


class HttpServer:
    """One ASGI app served by uvicorn as a task of the running loop."""

    def __init__(self, app: ASGIApp, host: str, port: int, *, grace_s: float) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,  # the router's JSON logs
            access_log=False,  # no per-call INFO logs: spans carry that
            timeout_graceful_shutdown=max(int(grace_s), 1),
            server_header=False,
        )
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}/v1"

    async def start(self) -> int:
        """Binds the port and starts serving; returns the port (useful with port 0)."""
        sock = _bind(self._host, self._port)
        self.port = int(sock.getsockname()[1])
        self._server = _Server(self._config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        _log.info("OpenAI-compatible HTTP API", extra={"base_url": self.base_url})
        return self.port

    async def stop(self) -> None:
        """Stops taking connections, lets in-flight requests finish within the grace period."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
