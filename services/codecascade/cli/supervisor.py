"""Starts services as child processes, waits for their health, and stops them all cleanly.

`cascade up` and the demos use it: each child is `cascade serve <svc>` with its own environment.
A child that exits early is reported with the tail of its log, never hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from codecascade.mesh.health import is_serving

__all__ = [
    "Child",
    "ChildFailed",
    "first_exit",
    "free_port",
    "log_tail",
    "stop_process",
    "supervised",
    "wait_http_ready",
]


class ChildFailed(RuntimeError):
    """A supervised service exited or never became healthy."""


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """One supervised service: its command, where it listens, where its logs go."""

    name: str
    args: list[str]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    # How to tell the child is ready; grpc.health.v1 on `address` when not given.
    probe: Callable[[], Awaitable[bool]] | None = None
    # Where it serves Prometheus /metrics on loopback, when it does (`cascade up --observe`).
    metrics_port: int | None = None
    # Labels a scraper puts on this child's series (e.g. `tier`, which the alert rules join on).
    scrape_labels: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines) if self.log_path is not None else ""


def log_tail(path: Path, lines: int = 15) -> str:
    """The last `lines` of a process's log, for the error that reports its failure."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def wait_http_ready(
    process: asyncio.subprocess.Process,
    *,
    name: str,
    url: str,
    log_path: Path,
    timeout_s: float,
    request_timeout_s: float = 1.0,
    interval_s: float = 0.2,
) -> None:
    """Waits until GET `url` answers 200; a process that exits first, or never gets there,
    raises ChildFailed with the tail of its log (for the non-gRPC helpers: Prometheus, Phoenix)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient(timeout=request_timeout_s) as client:
        while loop.time() < deadline:
            if process.returncode is not None:
                raise ChildFailed(
                    f"{name} exited with code {process.returncode} during start:\n"
                    f"{log_tail(log_path)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(interval_s)
    raise ChildFailed(f"{name} not ready after {timeout_s:.0f} s:\n{log_tail(log_path)}")


async def stop_process(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """Stops a child by its PID: SIGTERM, then SIGKILL once `grace_s` has passed."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _wait_healthy(child: Child, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with grpc.aio.insecure_channel(child.address) as channel:
        while loop.time() < deadline:
            assert child.process is not None
            if child.process.returncode is not None:
                raise ChildFailed(
                    f"{child.name} exited with code {child.process.returncode} during start:\n"
                    f"{child.log_tail()}"
                )
            if await (child.probe() if child.probe else is_serving(channel, timeout_s=1.0)):
                return
            await asyncio.sleep(0.2)
    raise ChildFailed(f"{child.name} not healthy after {timeout_s:.0f} s:\n{child.log_tail()}")


async def _stop(child: Child, grace_s: float) -> None:
    if child.process is not None:
        await stop_process(child.process, grace_s)


@contextlib.asynccontextmanager
async def supervised(
    children: list[Child], *, start_timeout_s: float = 60.0, grace_s: float = 15.0
) -> AsyncIterator[list[Child]]:
    """Starts every child, yields once all are healthy, stops them in reverse order on exit."""
    log_dir = Path(tempfile.mkdtemp(prefix="codecascade-"))
    try:
        for child in children:
            child.log_path = log_dir / f"{child.name}.log"
            env = {**os.environ, "GRPC_PORT": str(child.port), **child.env}
            with child.log_path.open("wb") as log:
                child.process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "codecascade.cli",
                    *child.args,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
        await asyncio.gather(*(_wait_healthy(c, start_timeout_s) for c in children))
        yield children
    finally:
        for child in reversed(children):
            await _stop(child, grace_s)


async def first_exit(children: list[Child]) -> Child:
    """Waits until any child exits, and returns it (for reporting a crash, never hiding it)."""
    waits = {
        asyncio.ensure_future(child.process.wait()): child
        for child in children
        if child.process is not None
    }
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        return waits[next(iter(done))]
    finally:
        for task in waits:
            task.cancel()
