"""Running the runner as a plain child process: the shared core of the pod and process backends.

There is no runsc here, so the isolation is whatever surrounds this process: a gVisor pod (the
pod backend) or nothing at all (the process backend, development only). The runner still applies
its own per-solution limits (rlimits, seccomp, private output, the result-channel protocol), and
each request still gets a fresh runner process taken once from a warm pool, so requests never
share interpreter state. Deadline: the runner's whole process group is SIGKILLed (the runner's
children cannot leave that group: seccomp refuses setsid/setpgid).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from codecascade.sandbox.execution import ExecutionJob, ExecutionReport
from codecascade.sandbox.isolation import execute_isolating, sub_job
from codecascade.sandbox.pool import PoolObserver, WarmPool
from codecascade.sandbox.protocol import (
    READER_LIMIT_BYTES,
    RUNNER_PATH,
    ProtocolError,
    StreamResult,
    default_prefork,
    drain_bounded,
    encode_job,
    new_nonce,
    read_results,
    wait_ready,
)

__all__ = ["RUNNER_ENV", "LocalRunnerBackend"]

# The runner's whole environment: nothing of the server's (no secrets, no PYTHON* variables).
RUNNER_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}


@dataclass(eq=False)
class _Runner:
    proc: asyncio.subprocess.Process
    stderr_tail: asyncio.Task[bytes]


class LocalRunnerBackend:
    """A pool of pre-started runner processes, one per request, killed as a group afterwards."""

    name = "local"

    def __init__(
        self,
        *,
        python: str,
        pool_size: int,
        pool_wait_s: float,
        max_concurrency: int,
        parallel: int = 2,
        start_timeout_s: float = 10.0,
        prefork: int | None = None,
        observer: PoolObserver | None = None,
    ) -> None:
        """`observer` is told the pool's ready and in-use counts (the service's metrics)."""
        self._python = python
        self._parallel = parallel
        self._prefork = default_prefork(parallel) if prefork is None else max(0, prefork)
        self._start_timeout_s = start_timeout_s
        self._requests = asyncio.Semaphore(max_concurrency)
        self._cleanups: set[asyncio.Task[None]] = set()
        self._pool: WarmPool[_Runner] = WarmPool(
            create=self._create,
            destroy=self._destroy,
            size=pool_size,
            wait_s=pool_wait_s,
            name=f"{self.name}-pool",
            observer=observer,
        )

    async def start(self) -> None:
        self._pool.start()

    async def close(self) -> None:
        await self._pool.close()
        await self.settle()

    async def settle(self) -> None:
        """Waits until every used runner has been killed and reaped."""
        while self._cleanups:
            await asyncio.gather(*list(self._cleanups), return_exceptions=True)

    async def _create(self) -> _Runner:
        proc = await asyncio.create_subprocess_exec(
            self._python,
            "-I",
            "-S",
            "-B",
            str(RUNNER_PATH),
            str(self._prefork),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=RUNNER_ENV,
            cwd="/tmp",
            limit=READER_LIMIT_BYTES,
            start_new_session=True,
        )
        runner = _Runner(proc, asyncio.create_task(drain_bounded(proc.stderr)))
        try:
            assert proc.stdout is not None
            await asyncio.wait_for(wait_ready(proc.stdout), self._start_timeout_s)
        except BaseException:
            await self._destroy(runner)
            raise
        return runner

    async def _destroy(self, runner: _Runner, exit_wait_s: float = 0.0) -> None:
        proc = runner.proc
        if proc.returncode is None and exit_wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), exit_wait_s)
        # The group outlives the runner if a child is still running: kill it either way.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runner.stderr_tail, 5.0)

    def _destroy_later(self, runner: _Runner, exit_wait_s: float) -> None:
        task = asyncio.create_task(self._destroy(runner, exit_wait_s))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        async with self._requests:
            return await execute_isolating(
                job, self._run_once, deadline_s=deadline_s, backend=self.name
            )

    async def _run_once(
        self, job: ExecutionJob, indices: Sequence[int], timeout_s: float
    ) -> StreamResult:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        runner = await self._pool.acquire()
        part = sub_job(job, indices)
        nonce = new_nonce()
        result = StreamResult()
        proc = runner.proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            async with asyncio.timeout(max(0.0, end - loop.time())):
                proc.stdin.write(encode_job(part, nonce, parallel=self._parallel))
                await proc.stdin.drain()
                proc.stdin.close()
                await read_results(proc.stdout, part, nonce, index_map=list(indices), result=result)
        except TimeoutError:
            result.deadline_hit = True
        except ProtocolError as exc:
            result.notes.append(f"runner: {exc}")
        except (BrokenPipeError, ConnectionResetError):
            result.notes.append("runner exited before it took the job")
        finally:
            self._destroy_later(runner, 2.0 if result.ended else 0.0)
            self._pool.retire()
        if not result.ended and not result.deadline_hit:
            result.notes.append("runner ended without finishing the job")
        return result
