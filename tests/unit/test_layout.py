"""Guards on the project's shape: packaging, generated code, and where gRPC stops."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services" / "codecascade"

# Modules allowed to speak gRPC/protobuf/KServe: the wiring around the domain (STYLE rule 2).
WIRING = {"servicer.py", "server.py", "__main__.py"}
WIRING_PACKAGES = {"mesh", "cli", "v1"}
WIRING_EXTRA: dict[str, set[str]] = {
    # The KServe predictor and the protocol clients are adapters by definition.
    "tierclient": {"oip_client.py", "openai_client.py"},
    "tierserver": {"model.py", "v2_codec.py"},
    "router": {"adapters.py"},
}
FORBIDDEN = ("grpc", "google.protobuf", "kserve", "tritonclient", "codecascade.v1")


def test_generated_stubs_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _domain_modules() -> list[Path]:
    modules = []
    for package in SERVICES.iterdir():
        if not package.is_dir() or package.name in WIRING_PACKAGES:
            continue
        allowed = WIRING | WIRING_EXTRA.get(package.name, set())
        modules.extend(p for p in package.rglob("*.py") if p.name not in allowed)
    return modules


@pytest.mark.parametrize("module", _domain_modules(), ids=lambda p: str(p.relative_to(SERVICES)))
def test_domain_modules_do_not_import_grpc(module: Path) -> None:
    bad = {
        name
        for name in _imports(module)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{module.name} imports {sorted(bad)}; move that code to the servicer"
