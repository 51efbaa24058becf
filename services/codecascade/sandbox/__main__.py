"""`python -m codecascade.sandbox` / `cascade serve sandbox`: run the sandbox service."""

from __future__ import annotations

from codecascade.mesh.entrypoint import run_service
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.server import build_service


def main() -> int:
    """Reads settings from file and environment, then serves until SIGTERM."""
    return run_service("codecascade-sandbox", SandboxSettings, build_service)


if __name__ == "__main__":
    raise SystemExit(main())
