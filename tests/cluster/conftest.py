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
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kube import Cluster

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cluster.sh"
DEFAULT_RUN = ROOT / "build" / "cluster" / "run"
DEFAULT_PORT_BASE = 16440
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


def _script(
    *args: str, env: dict[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def _log_tails(run: Path) -> str:
    out = []
    for log in sorted((run / "logs").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        out.append(f"--- {log.name} (last {len(lines)} lines)\n" + "\n".join(lines))
    return "\n".join(out)


def _free_port_base(span: int = 9) -> int:
    """A base port with base..base+span-1 all free on 127.0.0.1 (the cluster's nine ports)."""
    for _ in range(200):
        base = random.randrange(20000, 30000 - span)
        socks = []
        try:
            for port in range(base, base + span):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no 9 consecutive free ports on 127.0.0.1")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The session's cluster. Each session gets its own run folder and ports, so two test runs
    in the same working tree (or a cluster started by hand) do not stop each other's."""
    if shutil.which("go") is None:
        pytest.skip(
            "the Go toolchain is not on PATH: tests/cluster builds its control plane "
            "from the Go modules pinned in tests/cluster/go.mod"
        )
    reuse = os.environ.get("CODECASCADE_CLUSTER_REUSE") == "1"
    if reuse:
        run = Path(os.environ.get("CLUSTER_RUN", DEFAULT_RUN))
        port_base = int(os.environ.get("CLUSTER_PORT_BASE", DEFAULT_PORT_BASE))
    else:
        run = ROOT / "build" / "cluster" / f"run-pytest-{os.getpid()}"
        port_base = _free_port_base()
    env = {"CLUSTER_RUN": str(run), "CLUSTER_PORT_BASE": str(port_base)}
    started = False
    if not (reuse and _script("status", env=env).returncode == 0):
        up = _script("up", env=env)
        started = True
        if up.returncode != 0:
            tails = _log_tails(run)
            _script("down", env=env)
            pytest.fail(
                f"scripts/cluster.sh up exited {up.returncode}:\n{up.stderr[-6000:]}\n{tails}",
                pytrace=False,
            )
    handle = Cluster(
        kubeconfig=run / "admin.kubeconfig",
        run_dir=run,
        kubectl_path=ROOT / "build" / "tools" / "bin" / "kubectl",
        api_url=f"https://127.0.0.1:{port_base}",
    )
    pids = handle.pids()
    try:
        yield handle
    finally:
        if started and not reuse:
            down = _script("down", env=env, timeout=120)
            assert down.returncode == 0, down.stderr
            # `down` stopped every process `up` started (by PID), and left no pid file behind.
            left = {
                n: p
                for n, p in pids.items()
                if Path(f"/proc/{p}").exists()
                and os.path.realpath(f"/proc/{p}/exe").startswith(str(ROOT / "build"))
            }
            assert not left, f"still running after down: {left}"
            assert not list((run / "pids").glob("*.pid"))
            shutil.rmtree(run, ignore_errors=True)
