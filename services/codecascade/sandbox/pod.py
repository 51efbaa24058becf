"""`PodBackend`: the runner as a local process inside a Kubernetes pod whose runtime is gVisor.

In the cluster the pod is the sandbox (`runtimeClassName: gvisor`, read-only root, non-root, all
capabilities dropped, no service-account token, egress denied, recycled after N requests), so no
runsc is needed in the container. What this backend adds is a refusal: it starts only when it can
see that it runs under gVisor. The check asks the kernel log (`syslog(2)`, what `dmesg` reads):
gVisor's sentry answers with its own boot banner ("Starting gVisor..."), which a Linux kernel never
prints, and which no setting can fake. A deployment that forgot the runtime class therefore fails
at startup with a message instead of running untrusted code in a plain container. There is
deliberately no "assume gVisor" setting: without gVisor, use the runsc backend or, knowingly, the
insecure process backend.

Weaker than runsc: the pod's /proc cannot be masked, so the runner's own stream is reachable by a
determined solution through /proc/<pid>/fd; the host-side nonce and validation still reject
malformed or foreign rows (see runner.py for the residual risk).
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable
from pathlib import Path

from codecascade.sandbox.errors import SandboxUnavailable
from codecascade.sandbox.local import LocalRunnerBackend
from codecascade.sandbox.pool import PoolObserver

__all__ = ["PodBackend", "detect_gvisor"]

_SYSLOG_ACTION_READ_ALL = 3
_GVISOR_BANNER = b"Starting gVisor"


def detect_gvisor(kernel_log: Callable[[], bytes] | None = None) -> str | None:
    """Evidence that this process runs under gVisor, or None. Blocking: call via to_thread."""
    read = kernel_log or _read_kernel_log
    try:
        log = read()
    except OSError:
        log = b""
    if _GVISOR_BANNER in log:
        return "kernel log carries gVisor's boot banner"
    return None


def _read_kernel_log() -> bytes:
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(16384)
    size = libc.klogctl(_SYSLOG_ACTION_READ_ALL, buf, len(buf))
    if size < 0:
        raise OSError(ctypes.get_errno(), "klogctl failed")
    return buf.raw[:size]


class PodBackend(LocalRunnerBackend):
    """Runner processes inside a gVisor pod; refuses to start anywhere else."""

    name = "pod"

    def __init__(
        self,
        *,
        python: str = "/usr/bin/python3",
        pool_size: int = 2,
        pool_wait_s: float = 5.0,
        max_concurrency: int = 4,
        parallel: int = 2,
        start_timeout_s: float = 10.0,
        prefork: int | None = None,
        probe: Callable[[], str | None] = detect_gvisor,
        observer: PoolObserver | None = None,
    ) -> None:
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
        self._python_path = Path(python)
        self._probe = probe
        self.evidence = ""

    async def start(self) -> None:
        evidence = await asyncio.to_thread(self._probe)
        if evidence is None:
            raise SandboxUnavailable(
                "SANDBOX_BACKEND=pod but this process is not running under gVisor (the kernel "
                "log has no gVisor banner): give the pod `runtimeClassName: gvisor` (see "
                "k8s/runtimeclass-gvisor.yaml), or use SANDBOX_BACKEND=runsc on a host with runsc"
            )
        if not await asyncio.to_thread(self._python_path.exists):
            raise SandboxUnavailable(f"SANDBOX_PYTHON={self._python_path} does not exist")
        self.evidence = evidence
        await super().start()
