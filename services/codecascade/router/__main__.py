"""`python -m codecascade.router` / `cascade serve router`: run the cascade router."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from codecascade.mesh.entrypoint import run_service
from codecascade.router.config import RouterSettings
from codecascade.router.policy import CascadePolicy
from codecascade.router.server import RouterService
from codecascade.tierclient.connect import connect_registry


def _build(settings: RouterSettings, registry: CollectorRegistry) -> RouterService:
    policy = CascadePolicy.load(settings.policy_file)
    return RouterService(
        settings,
        policy,
        connect_registry(settings.tiers, settings.channel_options()),
        registry=registry,
    )


def main() -> int:
    """Reads settings and the policy file, then serves until SIGTERM."""
    return run_service("codecascade-router", RouterSettings, _build)


if __name__ == "__main__":
    raise SystemExit(main())
