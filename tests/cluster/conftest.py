"""A live control plane for tests/cluster/: `scripts/cluster.sh up` once per session, `down` after.

The cluster is real (etcd, kube-apiserver, kube-controller-manager, kube-scheduler built from the
Go modules pinned in tests/cluster/go.mod, kwok's fake nodes, KEDA's operator); only kubelets and
containers are simulated, by kwok. The first test pays for `up` (and for the build when
build/cluster/bin is missing or stale: see tests/cluster/README.md for the figures), so these
tests carry a long pytest-timeout.

Environment:
  CODECASCADE_CLUSTER_REUSE=1  use a cluster that is already up (`scripts/cluster.sh up` by hand)
                               and leave it running afterwards.
  CODECASCADE_CLUSTER_TIMEOUT  per-test timeout in seconds (default 7200: covers a fresh build).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kube import Cluster

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster.sh"
RUN = Path(os.environ.get("CLUSTER_RUN", ROOT / "build" / "cluster" / "run"))
HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    # Also to be listed in pyproject.toml's markers (the coordinator owns that file).
    config.addinivalue_line(
        "markers", "cluster: needs the local control plane of scripts/cluster.sh (tests/cluster/)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    timeout = int(os.environ.get("CODECASCADE_CLUSTER_TIMEOUT", "7200"))
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.cluster)
            # The session fixture's setup (cluster up, maybe the build) counts against the first
            # test's timeout.
            item.add_marker(pytest.mark.timeout(timeout))


def _script(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _log_tails() -> str:
    out = []
    for log in sorted((RUN / "logs").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        out.append(f"--- {log.name} (last {len(lines)} lines)\n" + "\n".join(lines))
    return "\n".join(out)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if shutil.which("go") is None:
        pytest.skip(
            "the Go toolchain is not on PATH: tests/cluster builds its control plane "
            "from the Go modules pinned in tests/cluster/go.mod"
        )
    reuse = os.environ.get("CODECASCADE_CLUSTER_REUSE") == "1"
    started = False
    if not (reuse and _script("status").returncode == 0):
        up = _script("up")
        started = True
        if up.returncode != 0:
            _script("down")
            pytest.fail(
                f"scripts/cluster.sh up exited {up.returncode}:\n{up.stderr[-6000:]}\n"
                f"{_log_tails()}",
                pytrace=False,
            )
    port_base = int(os.environ.get("CLUSTER_PORT_BASE", "16440"))
    handle = Cluster(
        kubeconfig=RUN / "admin.kubeconfig",
        run_dir=RUN,
        kubectl_path=ROOT / "build" / "tools" / "bin" / "kubectl",
        api_url=f"https://127.0.0.1:{port_base}",
    )
    pids = handle.pids()
    try:
        yield handle
    finally:
        if started and not reuse:
            down = _script("down", timeout=120)
            assert down.returncode == 0, down.stderr
            # `down` stopped every process `up` started (by PID), and left no pid file behind.
            left = {
                n: p
                for n, p in pids.items()
                if Path(f"/proc/{p}").exists()
                and os.path.realpath(f"/proc/{p}/exe").startswith(str(ROOT / "build"))
            }
            assert not left, f"still running after down: {left}"
            assert not list((RUN / "pids").glob("*.pid"))
