"""Forward loopback ports from a network namespace to the host's loopback (tests/cluster only).

    python tests/cluster/nsforward.py <netns name> <port>[:<host port>] ...

Each listener is a socket bound to 127.0.0.1:<port> *inside* the named namespace
(/run/netns/<name>); each accepted connection is piped to 127.0.0.1:<host port> (default: the same
number) in the namespace this process started in. A socket stays in the namespace it was created
in, so the process enters the target namespace (setns(2)) only to create the listeners and then
returns. Used to run KEDA's metrics API server (whose /metrics listener binds every interface, see
tests/cluster/README.md) in a namespace of its own while it reaches the API server and KEDA's
operator, which listen on the host's loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import sys
from collections.abc import Awaitable, Callable

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _listeners(netns: str, ports: list[int]) -> list[socket.socket]:
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        socks = []
        for port in ports:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            sock.setblocking(False)
            socks.append(sock)
        return socks
    finally:
        _setns(home)
        os.close(home)
        os.close(target)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(socks: list[socket.socket], targets: list[int]) -> None:
    async def handler(
        port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def bound(port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        return lambda reader, writer: handler(port, reader, writer)

    servers = [
        await asyncio.start_server(bound(port), sock=sock)
        for sock, port in zip(socks, targets, strict=True)
    ]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str]) -> int:
    netns, specs = argv[0], argv[1:]
    inner = [int(s.split(":")[0]) for s in specs]
    outer = [int(s.split(":")[-1]) for s in specs]
    asyncio.run(_serve(_listeners(netns, inner), outer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
