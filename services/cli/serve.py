"""`cascade serve <service>`: run one service in the foreground (what a container runs)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

__all__ = ["add_parser"]


def _sandbox() -> int:
    from codecascade.sandbox.__main__ import main

    return main()


def _testsynth() -> int:
    from codecascade.testsynth.__main__ import main

    return main()


def _router() -> int:
    from codecascade.router.__main__ import main

    return main()


SERVICES: dict[str, Callable[[], int]] = {
    "router": _router,
    "sandbox": _sandbox,
    "testsynth": _testsynth,
}


def _run(args: argparse.Namespace) -> int:
    if args.config:
        os.environ["CODECASCADE_CONFIG"] = args.config
    if args.port is not None:
        os.environ["GRPC_PORT"] = str(args.port)
    if args.insecure_process_backend:
        os.environ["SANDBOX_BACKEND"] = "process"
        os.environ["SANDBOX_ALLOW_INSECURE"] = "true"
    return SERVICES[args.service]()


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run one service in the foreground",
        description="Run one service until SIGTERM. Settings come from the environment "
        "(upper-case field names, e.g. GRPC_PORT) and the YAML file in CODECASCADE_CONFIG.",
    )
    parser.add_argument("service", choices=sorted(SERVICES), help="the service to run")
    parser.add_argument("--config", help="YAML settings file (sets CODECASCADE_CONFIG)")
    parser.add_argument("--port", type=int, help="gRPC port (sets GRPC_PORT)")
    parser.add_argument(
        "--insecure-process-backend",
        action="store_true",
        help="sandbox only: run untrusted code as plain processes (development only, INSECURE)",
    )
    parser.set_defaults(run=_run)
