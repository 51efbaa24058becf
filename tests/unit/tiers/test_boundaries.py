"""Domain modules of codecascade.tiers import no gRPC, protobuf or KServe (STYLE rule 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TIERS = Path(__file__).resolve().parents[3] / "services" / "codecascade" / "tiers"
DOMAIN = ["catalog", "generation", "engine", "locate", "assemble", "download", "retry", "client"]
FORBIDDEN = ("grpc", "google.protobuf", "kserve", "codecascade.v1", "tritonclient")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_module_stays_protocol_free(module: str) -> None:
    bad = {
        name
        for name in _imports(TIERS / f"{module}.py")
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{module}.py imports {sorted(bad)}"
