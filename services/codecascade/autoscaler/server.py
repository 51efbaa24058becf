"""Wiring for the autoscaler: the signal source, the loop, KEDA's External Scaler servicer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import grpc
from prometheus_client import CollectorRegistry

from codecascade.autoscaler.config import AutoscalerSettings
from codecascade.autoscaler.control import Autoscaler, ScaleTarget, SignalSource
from codecascade.autoscaler.metrics import AutoscalerMetrics
from codecascade.autoscaler.servicer import ExternalScalerServicer
from codecascade.autoscaler.sources import PrometheusSource, ScrapeSource, resolve_addresses
from codecascade.keda import externalscaler_pb2_grpc as pb_grpc

__all__ = ["AutoscalerService", "build_source"]

_log = logging.getLogger(__name__)

SERVICE_NAME = "externalscaler.ExternalScaler"


def build_source(settings: AutoscalerSettings) -> SignalSource:
    """The configured signal source (Prometheus's HTTP API, or the routers' /metrics)."""
    if settings.signal_source == "prometheus":
        return PrometheusSource(
            settings.prometheus_url,
            window_s=settings.rate_window_s,
            matchers=settings.prometheus_matchers,
            timeout_s=settings.request_timeout_s,
        )
    return ScrapeSource(
        settings.router_metrics_urls,
        window_s=settings.rate_window_s,
        timeout_s=settings.request_timeout_s,
        resolve=resolve_addresses if settings.router_metrics_resolve else None,
    )


class AutoscalerService:
    """The loop in the background; the servicer reads its latest decision."""

    def __init__(
        self,
        settings: AutoscalerSettings,
        source: SignalSource,
        *,
        target: ScaleTarget | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._source = source
        self._target = target
        self._clock = clock
        metrics = AutoscalerMetrics.create(
            registry if registry is not None else CollectorRegistry()
        )
        self.autoscaler = Autoscaler(
            settings.chain,
            settings.scaling,
            source,
            prior=settings.prior,
            prior_weight=settings.escalation_prior_weight,
            mode=settings.mode,
            target=target,
            scaled_tiers=settings.scaled_tiers,
            observers=(metrics.observe,),
            clock=clock,
        )
        self._servicer = ExternalScalerServicer(
            self.autoscaler, stale_after_s=settings.stale_after_s, clock=clock
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def service_names(self) -> Sequence[str]:
        return (SERVICE_NAME,)

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_ExternalScalerServicer_to_server(self._servicer, server)

    async def start(self) -> None:
        """Refills the stabilisation windows from Prometheus (when that is the source), takes a
        first decision, then polls in the background. A source that cannot be read yet does
        not stop the start: KEDA gets UNAVAILABLE (and its fallback) until a poll succeeds."""
        await self._seed()
        try:
            await self.autoscaler.poll()
        except Exception as exc:
            self.autoscaler.last_error = str(exc)
            _log.warning("autoscaler: first poll failed: %s", exc)
        self._task = asyncio.create_task(self._run(), name="autoscaler-loop")

    async def _run(self) -> None:
        await asyncio.sleep(self.settings.poll_interval_s)
        await self.autoscaler.run(self.settings.poll_interval_s)

    async def _seed(self) -> None:
        if not isinstance(self._source, PrometheusSource):
            return
        window = max(self.settings.scaling(t).stabilisation_window_s for t in self.settings.chain)
        if window <= 0:
            return
        try:
            history = await self._source.history(window, self.settings.poll_interval_s)
        except Exception as exc:
            _log.warning("autoscaler: cannot refill the window from Prometheus: %s", exc)
            return
        now = self._clock()
        self.autoscaler.seed([(now - age, snapshot) for age, snapshot in history])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._source.aclose()
        close = getattr(self._target, "close", None)
        if callable(close):
            close()
