"""The OCI spec the runsc backend writes: what a sandbox can and cannot see."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from codecascade.sandbox.bundle import BundleLayout, BundleLimits, oci_spec
from codecascade.sandbox.protocol import RUNNER_PATH


def spec() -> dict:
    return oci_spec(
        rootfs=Path("/state/rootfs"),
        runner_dir=Path("/state/runner"),
        python="/usr/bin/python3",
        limits=BundleLimits(memory_bytes=1 << 30, cpu_cores=2, pids=512),
        cgroups_path="/codecascade-sandbox/cc-1",
    )


def test_process_is_unprivileged() -> None:
    process = spec()["process"]
    assert process["user"] == {"uid": 65534, "gid": 65534, "additionalGids": []}
    assert all(v == [] for v in process["capabilities"].values())
    assert process["noNewPrivileges"] is True
    assert len(process["env"]) == 4
    assert not any(e.startswith(("PYTHON", "LD_")) for e in process["env"])
    assert process["args"][:4] == ["/usr/bin/python3", "-I", "-S", "-B"]


def test_filesystem_is_minimal_and_read_only() -> None:
    doc = spec()
    assert doc["root"] == {"path": "/state/rootfs", "readonly": True}
    mounts = {m["destination"]: m for m in doc["mounts"]}
    assert set(mounts) == {"/usr", "/runner", "/tmp", "/proc"}
    assert "ro" in mounts["/usr"]["options"] and "ro" in mounts["/runner"]["options"]
    assert mounts["/tmp"]["type"] == "tmpfs" and "size=67108864" in mounts["/tmp"]["options"]
    # procfs is masked: a same-uid child could otherwise open /proc/<runner>/fd/1.
    assert mounts["/proc"]["type"] == "tmpfs" and "ro" in mounts["/proc"]["options"]
    assert not any(m["source"].startswith("/etc") for m in doc["mounts"])


def test_namespaces_and_cgroups() -> None:
    linux = spec()["linux"]
    assert {"type": "network"} in linux["namespaces"]
    assert linux["cgroupsPath"] == "/codecascade-sandbox/cc-1"
    assert linux["resources"]["memory"]["limit"] == 1 << 30
    assert linux["resources"]["cpu"] == {"quota": 200_000, "period": 100_000, "shares": 1024}
    assert linux["resources"]["pids"]["limit"] == 512


def test_layout_prepare(tmp_path: Path) -> None:
    layout = BundleLayout(tmp_path / "state")
    layout.prepare(RUNNER_PATH)
    assert os.readlink(layout.rootfs / "lib") == "usr/lib"
    for name in ("usr", "tmp", "proc", "runner"):
        assert (layout.rootfs / name).is_dir()
    runner = layout.runner_dir / "runner.py"
    assert stat.S_IMODE(runner.stat().st_mode) == 0o444
    assert runner.read_bytes() == RUNNER_PATH.read_bytes()
    bundle = layout.write_bundle("cc-x", spec())
    assert (bundle / "config.json").exists() and layout.bundle_ids() == ["cc-x"]
    layout.remove_bundle("cc-x")
    assert layout.bundle_ids() == []
    layout.prepare(RUNNER_PATH)  # idempotent
