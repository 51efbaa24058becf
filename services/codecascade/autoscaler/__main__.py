"""`python -m codecascade.autoscaler` / `cascade serve autoscaler`: run the autoscaler."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from codecascade.autoscaler.config import AutoscalerSettings
from codecascade.autoscaler.control import ScaleTarget
from codecascade.autoscaler.server import AutoscalerService, build_source
from codecascade.mesh.entrypoint import run_service
from codecascade.mesh.settings import ConfigError


def _target(settings: AutoscalerSettings) -> ScaleTarget | None:
    if settings.mode != "direct":
        return None
    # Only mode direct needs the Kubernetes client (the mesh image's `autoscaler` extra).
    from codecascade.autoscaler.kube import KubeScaleTarget, ScaleError, load_api_client

    try:
        return KubeScaleTarget(
            load_api_client(settings.kubeconfig),
            namespace=settings.kube_namespace,
            objects=settings.kube_targets,
            request_timeout_s=settings.request_timeout_s,
        )
    except ScaleError as exc:  # no credentials: a startup error with what to fix
        raise ConfigError(str(exc)) from exc


def _build(settings: AutoscalerSettings, registry: CollectorRegistry) -> AutoscalerService:
    return AutoscalerService(
        settings, build_source(settings), target=_target(settings), registry=registry
    )


def main() -> int:
    """Reads settings, then decides (and in mode direct, scales) until SIGTERM."""
    return run_service("codecascade-autoscaler", AutoscalerSettings, _build)


if __name__ == "__main__":
    raise SystemExit(main())
