"""`ProcessBackend`: the runner as a plain local process. Development only: NOT a sandbox.

Solutions run with the server's uid, see its filesystem and network; the runner's rlimits and
seccomp filter are all that stands between them and the host. The constructor refuses to build it
unless `allow_insecure=True` (SANDBOX_ALLOW_INSECURE=true), and every request logs a WARNING so
that nobody runs it by accident in production.
"""

from __future__ import annotations

import logging

from codecascade.sandbox.errors import SandboxUnavailable
from codecascade.sandbox.execution import ExecutionJob, ExecutionReport
from codecascade.sandbox.local import LocalRunnerBackend
from codecascade.sandbox.pool import PoolObserver

__all__ = ["ProcessBackend"]

_log = logging.getLogger(__name__)


class ProcessBackend(LocalRunnerBackend):
    """Insecure local execution, for development machines without gVisor."""

    name = "process"

    def __init__(
        self,
        *,
        allow_insecure: bool,
        python: str = "/usr/bin/python3",
        pool_size: int = 2,
        pool_wait_s: float = 5.0,
        max_concurrency: int = 4,
        parallel: int = 2,
        start_timeout_s: float = 10.0,
        prefork: int | None = None,
        observer: PoolObserver | None = None,
    ) -> None:
        if not allow_insecure:
            raise SandboxUnavailable(
                "the 'process' backend runs untrusted code without any sandbox; it is for "
                "development only and needs SANDBOX_ALLOW_INSECURE=true (allow_insecure=True). "
                "Use SANDBOX_BACKEND=runsc (gVisor) or pod in any shared environment"
            )
        super().__init__(
            python=python,
            pool_size=pool_size,
            pool_wait_s=pool_wait_s,
            max_concurrency=max_concurrency,
            parallel=parallel,
            start_timeout_s=start_timeout_s,
            prefork=prefork,
            observer=observer,
        )

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        _log.warning(
            "executing request %r with the INSECURE process backend (no sandbox)", job.request_id
        )
        return await super().execute(job, deadline_s=deadline_s)
