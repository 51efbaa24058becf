"""The common `main` of every service: settings, logs, telemetry, serve, clean exit codes.

Startup problems (bad configuration, a backend that cannot run here) end the process with exit
code 2 and one log line that says what to fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry

from codecascade.core.errors import CascadeError
from codecascade.mesh.logs import configure_logging
from codecascade.mesh.server import Service, serve_forever
from codecascade.mesh.settings import ServiceSettings
from codecascade.mesh.telemetry import setup_telemetry

__all__ = ["run_service"]

S = TypeVar("S", bound=ServiceSettings)
_log = logging.getLogger(__name__)


async def _serve(settings: S, build: Callable[[S, CollectorRegistry], Service]) -> None:
    # The service is built inside the running loop: grpc.aio channels bind to the loop that
    # exists when they are made, and one made before asyncio.run() would belong to no loop.
    registry = CollectorRegistry()
    await serve_forever(settings, build(settings, registry), registry)


def run_service(
    service_name: str,
    settings_type: type[S],
    build: Callable[[S, CollectorRegistry], Service],
) -> int:
    """Runs one service until it is told to stop; returns the process exit code."""
    configure_logging()
    try:
        settings = settings_type.load()
        configure_logging(settings.log_level)
        telemetry = setup_telemetry(service_name)
    except CascadeError as exc:
        _log.error("cannot start %s: %s", service_name, exc)
        return 2
    try:
        asyncio.run(_serve(settings, build))
    except CascadeError as exc:
        _log.error("cannot start %s: %s", service_name, exc)
        return 2
    except OSError as exc:
        _log.error("cannot start %s: %s", service_name, exc)
        return 2
    finally:
        telemetry.shutdown()
    return 0
