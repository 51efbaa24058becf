"""Building the configured backend; the only place that maps SANDBOX_BACKEND to a class."""

from __future__ import annotations

from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import Backend
from codecascade.sandbox.pod import PodBackend
from codecascade.sandbox.pool import PoolObserver
from codecascade.sandbox.process import ProcessBackend
from codecascade.sandbox.runsc import RunscBackend

__all__ = ["build_backend"]


def build_backend(settings: SandboxSettings, observer: PoolObserver | None = None) -> Backend:
    """A backend that is built but not started; `start()` checks that it can really run here.

    `observer` is told the warm pool's ready and in-use counts (the service's metrics).
    """
    if settings.sandbox_backend == "runsc":
        return RunscBackend(
            settings,
            parallel=settings.sandbox_parallel,
            prefork=settings.sandbox_prefork,
            start_timeout_s=settings.sandbox_start_timeout_s,
            reaper_interval_s=settings.sandbox_reaper_interval_s,
            observer=observer,
        )
    if settings.sandbox_backend == "pod":
        return PodBackend(
            python=settings.sandbox_python,
            pool_size=settings.pool_size,
            pool_wait_s=settings.pool_wait_s,
            max_concurrency=settings.max_concurrency,
            parallel=settings.sandbox_parallel,
            prefork=settings.sandbox_prefork,
            start_timeout_s=settings.sandbox_start_timeout_s,
            observer=observer,
        )
    return ProcessBackend(
        allow_insecure=settings.sandbox_allow_insecure,
        python=settings.sandbox_python,
        pool_size=settings.pool_size,
        pool_wait_s=settings.pool_wait_s,
        max_concurrency=settings.max_concurrency,
        parallel=settings.sandbox_parallel,
        prefork=settings.sandbox_prefork,
        start_timeout_s=settings.sandbox_start_timeout_s,
        observer=observer,
    )
