"""`cascade serve <service>`: run one service in the foreground (what a container runs)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

__all__ = ["add_parser"]


def _sandbox(_: Sequence[str]) -> int:
    from codecascade.sandbox.__main__ import main

    return main()


def _testsynth(_: Sequence[str]) -> int:
    from codecascade.testsynth.__main__ import main

    return main()


def _router(_: Sequence[str]) -> int:
    from codecascade.router.__main__ import main

    return main()


def _autoscaler(_: Sequence[str]) -> int:
    from codecascade.autoscaler.__main__ import main

    return main()


def _tier(argv: Sequence[str]) -> int:
    from codecascade.tierserver.__main__ import main

    return main(argv)


SERVICES: dict[str, Callable[[Sequence[str]], int]] = {
    "autoscaler": _autoscaler,
    "router": _router,
    "sandbox": _sandbox,
    "testsynth": _testsynth,
    "tier": _tier,
}


def _run(args: argparse.Namespace) -> int:
    if args.service != "tier" and args.rest:
        raise SystemExit(f"cascade serve {args.service}: unexpected arguments {args.rest}")
    if args.config:
        os.environ["CODECASCADE_CONFIG"] = args.config
    if args.port is not None:
        os.environ["GRPC_PORT"] = str(args.port)
    if args.insecure_process_backend:
        os.environ["SANDBOX_BACKEND"] = "process"
        os.environ["SANDBOX_ALLOW_INSECURE"] = "true"
    return SERVICES[args.service](args.rest)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run one service in the foreground",
        description="Run one service until SIGTERM. Settings come from the environment "
        "(upper-case field names, e.g. GRPC_PORT) and the YAML file in CODECASCADE_CONFIG. "
        "`cascade serve tier --help` lists the tier server's own flags.",
    )
    parser.add_argument("service", choices=sorted(SERVICES), help="the service to run")
    parser.add_argument("--config", help="YAML settings file (sets CODECASCADE_CONFIG)")
    parser.add_argument("--port", type=int, help="gRPC port (sets GRPC_PORT)")
    parser.add_argument(
        "--insecure-process-backend",
        action="store_true",
        help="sandbox only: run untrusted code as plain processes (development only, INSECURE)",
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(run=_run)
