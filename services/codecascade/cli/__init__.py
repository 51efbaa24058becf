"""The `cascade` command: a thin client and launcher over the services; no domain logic here."""

from __future__ import annotations

import argparse
import sys

from codecascade import __version__
from codecascade.cli import evaluate, generate, models, sandbox, serve, tenants, up

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cascade",
        description="codecascade: code generation with a cascade of models, verified in gVisor.",
    )
    parser.add_argument("--version", action="version", version=f"codecascade {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    up.add_parser(commands)
    generate.add_parser(commands)
    serve.add_parser(commands)
    sandbox.add_parser(commands)
    models.add_parser(commands)
    evaluate.add_eval_parser(commands)
    evaluate.add_calibrate_parser(commands)
    tenants.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cascade` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
