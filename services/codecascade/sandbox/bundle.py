"""The OCI bundle a gVisor sandbox runs: what the code inside can see and use.

Layout under the state directory (the reaper owns all of it):

    rootfs/            empty read-only root: mount points plus Debian's /bin, /lib, /lib64 links
    runner/runner.py   a copy of the runner, bind-mounted read-only at /runner
    bundles/<id>/      one config.json per sandbox (its cgroup path is unique)

Why each choice (measured facts in DESIGN §4):
- Only /usr from the host, read-only: the interpreter and stdlib, no host /etc, /home, /root,
  secrets or sockets. No /etc/passwd either: Python does not need it.
- /proc is masked by an empty read-only tmpfs. gVisor lets a same-uid process open
  /proc/<pid>/fd/<n> of a non-dumpable process, which would let a solution write forged lines into
  the runner's result stream; with no procfs there is nothing to open.
- /tmp is a fresh tmpfs; runsc 20221219 ignored its size option, so the memory cgroup (which
  counts tmpfs pages) is what bounds a /tmp flood, whatever the build.
- User nobody, no capabilities, noNewPrivileges, a 4-variable environment, no network namespace
  peers (`--network=none` on the command line).
- cgroups: memory, CPU quota, a CPU weight (pool refills yield to requests) and pids. Under the
  ptrace platform every guest thread is a host thread of the sandbox, and so are the sentry's own,
  so pids must leave room for the runtime (below ~64 the sandbox cannot even boot); hitting the
  limit kills the whole sandbox, which the backend answers with isolated reruns.
- The CPU-time rlimit and RLIMIT_NPROC in a bundle are ignored by gVisor; the runner sets its own
  rlimits with setrlimit inside, and blocks fork with seccomp.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RUNNER_MOUNT",
    "SANDBOX_ENV",
    "SANDBOX_GID",
    "SANDBOX_UID",
    "BundleLayout",
    "BundleLimits",
    "oci_spec",
]

SANDBOX_UID = 65534  # nobody
SANDBOX_GID = 65534  # nogroup
RUNNER_MOUNT = "/runner"
SANDBOX_ENV = ("PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", "TMPDIR=/tmp")
_ROOT_DIRS = ("usr", "tmp", "proc", "dev", "runner", "etc", "sys")
_ROOT_LINKS = {"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin"}


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """Whole-sandbox bounds (cgroups); per-solution bounds are the runner's setrlimit calls."""

    memory_bytes: int = 1536 * 1024 * 1024
    cpu_cores: float = 1.0
    # Relative CPU weight (cgroup v1 cpu.shares; runsc maps it to cpu.weight on v2). A pooled
    # sandbox boots and idles at a low weight and is raised when a request takes it, so starting
    # replacements never slows a request that is running (see RunscBackend).
    cpu_shares: int = 1024
    pids: int = 512
    nofile: int = 256
    tmp_bytes: int = 64 * 1024 * 1024


def oci_spec(
    *,
    rootfs: Path,
    runner_dir: Path,
    python: str,
    limits: BundleLimits,
    cgroups_path: str,
    runner_args: Sequence[str] = (),
) -> dict[str, Any]:
    """The config.json document; pure, so its content is unit-tested without runsc."""
    period = 100_000
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": SANDBOX_UID, "gid": SANDBOX_GID, "additionalGids": []},
            # -I: ignore PYTHON* env and user site; -S: no site-packages; -B: no .pyc writes.
            "args": [python, "-I", "-S", "-B", f"{RUNNER_MOUNT}/runner.py", *runner_args],
            "env": list(SANDBOX_ENV),
            "cwd": "/tmp",
            "capabilities": {
                "bounding": [],
                "effective": [],
                "inheritable": [],
                "permitted": [],
                "ambient": [],
            },
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": limits.nofile, "soft": limits.nofile},
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
            ],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "sandbox",
        "mounts": [
            {
                "destination": "/usr",
                "type": "bind",
                "source": "/usr",
                "options": ["rbind", "ro", "nosuid", "nodev"],
            },
            {
                "destination": RUNNER_MOUNT,
                "type": "bind",
                "source": str(runner_dir),
                "options": ["rbind", "ro", "nosuid", "nodev", "noexec"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", f"size={limits.tmp_bytes}", "mode=1777"],
            },
            {
                "destination": "/proc",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["ro", "nosuid", "nodev", "noexec", "size=4096"],
            },
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "cgroupsPath": cgroups_path,
            "resources": {
                "memory": {"limit": limits.memory_bytes, "swap": limits.memory_bytes},
                "cpu": {
                    "quota": int(limits.cpu_cores * period),
                    "period": period,
                    "shares": limits.cpu_shares,
                },
                "pids": {"limit": limits.pids},
            },
        },
    }


@dataclass(frozen=True, slots=True)
class BundleLayout:
    """Paths under the state directory; methods do blocking file I/O (call via to_thread)."""

    state_dir: Path

    @property
    def rootfs(self) -> Path:
        return self.state_dir / "rootfs"

    @property
    def runner_dir(self) -> Path:
        return self.state_dir / "runner"

    @property
    def runsc_root(self) -> Path:
        return self.state_dir / "runsc"

    @property
    def bundles(self) -> Path:
        return self.state_dir / "bundles"

    def prepare(self, runner_source: Path) -> None:
        """Creates the shared rootfs skeleton and installs the runner, readable by nobody."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
        for directory in (self.rootfs, self.runner_dir, self.runsc_root, self.bundles):
            directory.mkdir(exist_ok=True, mode=0o755)
        os.chmod(self.state_dir, 0o711)
        for name in _ROOT_DIRS:
            (self.rootfs / name).mkdir(exist_ok=True, mode=0o755)
        for name, target in _ROOT_LINKS.items():
            link = self.rootfs / name
            if not link.is_symlink():
                link.symlink_to(target)
        installed = self.runner_dir / "runner.py"
        tmp = installed.with_suffix(".tmp")
        shutil.copyfile(runner_source, tmp)
        os.chmod(tmp, 0o444)
        os.replace(tmp, installed)

    def write_bundle(self, sandbox_id: str, spec: dict[str, Any]) -> Path:
        """Writes bundles/<id>/config.json and returns the bundle directory."""
        bundle = self.bundles / sandbox_id
        bundle.mkdir(exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(spec), encoding="utf-8")
        return bundle

    def remove_bundle(self, sandbox_id: str) -> None:
        shutil.rmtree(self.bundles / sandbox_id, ignore_errors=True)

    def bundle_ids(self) -> list[str]:
        """Bundle directories on disk (leftovers of a crashed server are reaped by id)."""
        try:
            return sorted(p.name for p in self.bundles.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []
