"""`cascade` starts without the evaluation's numpy and matplotlib (only `tiers` installs them)."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_does_not_import_numpy_or_matplotlib() -> None:
    code = (
        "import sys, codecascade.cli\n"
        "codecascade.cli.build_parser()\n"
        "print(sorted(m for m in ('numpy', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
