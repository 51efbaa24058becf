"""`python -m codecascade.testsynth` / `cascade serve testsynth`: run test synthesis."""

from __future__ import annotations

from codecascade.mesh.entrypoint import run_service
from codecascade.testsynth.config import SynthesisSettings
from codecascade.testsynth.server import SynthesisService
from codecascade.tierclient.connect import connect_registry


def main() -> int:
    """Reads settings from file and environment, then serves until SIGTERM."""
    return run_service(
        "codecascade-testsynth",
        SynthesisSettings,
        lambda settings, _registry: SynthesisService(
            settings, connect_registry(settings.tiers, settings.channel_options())
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
