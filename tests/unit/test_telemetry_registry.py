"""Every custom span attribute the code sets is declared in docs/telemetry (STYLE rule 8)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# Names that look like attributes but are tracer/logger names.
# Tracer scope names, not attributes.
NOT_ATTRIBUTES = {
    "codecascade.cli",
    "codecascade.mesh",
    "codecascade.router",
    "codecascade.router.openai",
    "codecascade.tiers",
    "codecascade.tierserver",
}


def _declared() -> set[str]:
    registry = yaml.safe_load((ROOT / "docs" / "telemetry" / "attributes.yaml").read_text())
    names = {group["id"].removeprefix("event.") for group in registry["groups"]}
    for group in registry["groups"]:
        names.update(attribute["id"] for attribute in group.get("attributes", []))
    return names


def test_custom_attributes_are_declared() -> None:
    used = set()
    for path in (ROOT / "services").rglob("*.py"):
        if "_pb2" not in path.name:
            used.update(re.findall(r'"(codecascade\.[a-z_.]+)"', path.read_text()))
    undeclared = used - NOT_ATTRIBUTES - _declared()
    assert not undeclared, f"declare these in docs/telemetry/attributes.yaml: {sorted(undeclared)}"
