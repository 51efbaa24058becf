"""Fixtures for the chart tests: the pinned helm (scripts/tools.sh) and rendered, parsed manifests.

The tests skip only when the tools script has not been run (no helm in build/tools/bin); CI runs
scripts/setup.sh first, so there they always run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "codecascade"
HELM = ROOT / "build" / "tools" / "bin" / "helm"
REFERENCE = ROOT.parent / "shared" / "reference"
KUBE_VERSION = "1.32.0"
RELEASE = "codecascade"
NAMESPACE = "codecascade"
EXAMPLE_VALUES = sorted((ROOT / "k8s").glob("values-*.yaml"))
PROD_DIGESTS = ROOT / "tests" / "charts" / "prod-digests.yaml"


@dataclass(frozen=True)
class Rendered:
    """One `helm template` result: the documents, looked up by kind and name."""

    docs: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        names = [d["metadata"]["name"] for d in self.of_kind(kind)]
        raise KeyError(f"no {kind} {name}; have {names}")

    def pod_specs(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, pod spec) of every Deployment, and the predictor of every InferenceService."""
        specs = [
            (d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in self.of_kind("Deployment")
        ]
        specs += [
            (d["metadata"]["name"], d["spec"]["predictor"])
            for d in self.of_kind("InferenceService")
        ]
        return specs


def helm_available() -> bool:
    return HELM.is_file()


requires_helm = pytest.mark.skipif(
    not helm_available(), reason="helm not installed: run `bash scripts/tools.sh`"
)


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=60, check=False
    )


def requires_digests(values_file: Path) -> bool:
    """Whether a shipped values file (k8s/values-*.yaml) sets requireImageDigests: then CI adds
    the digests (PROD_DIGESTS). A test's own values file gets none."""
    if values_file.resolve().parent != ROOT / "k8s":
        return False
    return bool((yaml.safe_load(values_file.read_text()) or {}).get("requireImageDigests"))


def template_args(values_files: Sequence[Path] = (), sets: Sequence[str] = ()) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    args += ["--kube-version", KUBE_VERSION]
    for path in values_files:
        args += ["-f", str(path)]
        if requires_digests(path):  # what CI adds
            args += ["-f", str(PROD_DIGESTS)]
    for item in sets:
        args += ["--set", item]
    return args


def render(values_files: Sequence[Path] = (), sets: Sequence[str] = ()) -> Rendered:
    result = run_helm(*template_args(values_files, sets))
    assert result.returncode == 0, result.stderr
    docs = tuple(d for d in yaml.safe_load_all(result.stdout) if d)
    return Rendered(docs)


@pytest.fixture(scope="session")
def renderer() -> Callable[..., Rendered]:
    if not helm_available():
        pytest.skip("helm not installed: run `bash scripts/tools.sh`")
    cache: dict[tuple[tuple[Path, ...], tuple[str, ...]], Rendered] = {}

    def _render(values_files: Sequence[Path] = (), sets: Sequence[str] = ()) -> Rendered:
        key = (tuple(values_files), tuple(sets))
        if key not in cache:
            cache[key] = render(values_files, sets)
        return cache[key]

    return _render
