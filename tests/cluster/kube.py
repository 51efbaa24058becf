"""A handle on the live cluster of scripts/cluster.sh, for tests/cluster/ (see conftest.py)."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_CRDS = ROOT / "build" / "cluster" / "crds" / "prometheus-operator"


@dataclass(frozen=True)
class Cluster:
    """Handles on the running cluster: kubeconfig, PKI, ports, kubectl."""

    kubeconfig: Path
    run_dir: Path
    kubectl_path: Path
    api_url: str

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", stdin=manifest)

    def ssl_context(self) -> ssl.SSLContext:
        pki = self.run_dir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def api_get(self, path: str) -> str:
        url = self.api_url + path
        with urllib.request.urlopen(url, context=self.ssl_context(), timeout=10) as r:
            body: bytes = r.read()
        return body.decode()

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text()) for p in sorted((self.run_dir / "pids").glob("*.pid"))}


def prometheus_operator_crds() -> Path:
    """The folder with the Prometheus Operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule).

    They are not in ../shared/reference: `scripts/cluster.sh crds` takes them from the operator's
    Go module at the version tests/cluster/tools/prometheus-operator pins (the zip checked against
    its go.sum) into build/, run here when they are missing (Go and the module proxy are on every
    machine of the project, CI's included).
    """
    if not (PROMETHEUS_CRDS / "VERSION").is_file():
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "cluster.sh"), "crds"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"scripts/cluster.sh crds failed:\n{result.stderr}")
    return PROMETHEUS_CRDS
