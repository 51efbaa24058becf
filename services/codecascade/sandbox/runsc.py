"""`RunscBackend`: every request in a fresh, pre-started gVisor sandbox, destroyed after use.

Life of a sandbox: the pool writes a bundle and starts `runsc run`; the runner inside imports
what it needs, forks its first children, says `ready` and blocks on stdin, at a low CPU weight so
that boots yield to running requests. A request takes it from the pool (exactly once), raises its
weight, writes its job, reads the streamed rows until `end`, and hands the sandbox to cleanup,
which runs in the background so the caller does not wait for it: `runsc kill --all ID KILL` if
anything still runs, then always `runsc delete --force ID` (a `runsc run` client that dies leaves
its sandbox running), then the bundle is removed. A reaper deletes anything under the state root
that no live sandbox object owns: at start (leftovers of a crashed server) and periodically.

`start()` refuses to run rather than fall back: it checks the binary, root, the interpreter and
then runs a real job in a real sandbox; any failure raises `SandboxUnavailable` saying how to fix
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from codecascade.sandbox.bundle import BundleLayout, BundleLimits, oci_spec
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.errors import SandboxUnavailable
from codecascade.sandbox.execution import ExecutionJob, ExecutionReport, Limits, Outcome
from codecascade.sandbox.isolation import execute_isolating, sub_job
from codecascade.sandbox.pool import PoolObserver, WarmPool
from codecascade.sandbox.protocol import (
    RUNNER_PATH,
    ProtocolError,
    StreamResult,
    default_prefork,
    drain_bounded,
    encode_job,
    new_nonce,
    read_results,
    wait_ready,
)
from codecascade.sandbox.runsc_cli import RunscCli

__all__ = ["CGROUP_PARENT", "RunscBackend"]

_log = logging.getLogger(__name__)
_ID_PREFIX = "cc-"
CGROUP_PARENT = "codecascade-sandbox"
# CPU weights (cgroup v1 cpu.shares): a sandbox boots and waits in the pool at the low one and is
# raised to the high one when a request takes it, so on a busy host the kernel runs requests
# before the refills they triggered (a boot costs more CPU than a whole 5x10 request).
_IDLE_SHARES = 64
_ACTIVE_SHARES = 1024
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _set_cpu_weight(cgroup: str, shares: int) -> bool:
    """Sets a live sandbox's CPU weight (v1 cpu.shares or v2 cpu.weight); blocking, best effort."""
    v2_weight = 1 + ((shares - 2) * 9999) // 262142
    for path, value in (
        (_CGROUP_ROOT / "cpu" / cgroup / "cpu.shares", shares),
        (_CGROUP_ROOT / "cpu,cpuacct" / cgroup / "cpu.shares", shares),
        (_CGROUP_ROOT / cgroup / "cpu.weight", v2_weight),
    ):
        try:
            path.write_text(str(value), encoding="ascii")
        except OSError:
            continue
        return True
    return False


@dataclass(eq=False)
class _Sandbox:
    id: str
    proc: asyncio.subprocess.Process
    stderr_tail: asyncio.Task[bytes]
    ready: dict[str, object] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)


class RunscBackend:
    """The production backend on a host (or VM) where the service runs as root with runsc."""

    name = "runsc"

    def __init__(
        self,
        settings: SandboxSettings,
        *,
        parallel: int | None = None,
        bundle_limits: BundleLimits | None = None,
        start_timeout_s: float | None = None,
        reaper_interval_s: float | None = None,
        cgroup_parent: str = CGROUP_PARENT,
        prefork: int | None = None,
        observer: PoolObserver | None = None,
    ) -> None:
        """Arguments left at None come from `settings` (SANDBOX_PARALLEL and friends).

        `prefork` is how many children each pooled sandbox forks while it waits (default: two
        waves of `parallel`), `cgroup_parent` the cgroup every sandbox's own cgroup is made
        under (the benchmark gives its sandboxes a parent of their own to account for their CPU),
        `observer` is told the pool's ready and in-use counts (the service's metrics).
        """
        self._cgroup_parent = cgroup_parent.strip("/")
        self._settings = settings
        parallel = settings.sandbox_parallel if parallel is None else parallel
        self._parallel = parallel
        self._prefork = default_prefork(parallel) if prefork is None else max(0, prefork)
        self._layout = BundleLayout(settings.sandbox_state_dir)
        self._cli = RunscCli(
            binary=settings.runsc_path,
            root=self._layout.runsc_root,
            platform=settings.runsc_platform,
        )
        tmp_bytes = 64 * 1024 * 1024
        self._bundle_limits = bundle_limits or BundleLimits(
            # The runner's children hold at most `parallel` x the per-solution memory; /tmp is
            # tmpfs (counted by the memory cgroup); the rest is the sentry and the runner.
            memory_bytes=parallel * settings.max_memory_bytes + tmp_bytes + 256 * 1024 * 1024,
            cpu_cores=float(max(1, parallel)),
            pids=settings.sandbox_pids_limit,
            tmp_bytes=tmp_bytes,
            cpu_shares=_IDLE_SHARES,
        )
        self._start_timeout_s = (
            settings.sandbox_start_timeout_s if start_timeout_s is None else start_timeout_s
        )
        self._reaper_interval_s = (
            settings.sandbox_reaper_interval_s if reaper_interval_s is None else reaper_interval_s
        )
        self._owned: set[str] = set()
        self._cleanups: set[asyncio.Task[None]] = set()
        self._requests = asyncio.Semaphore(settings.max_concurrency)
        self._pool: WarmPool[_Sandbox] = WarmPool(
            create=self._create,
            destroy=self._destroy,
            size=settings.pool_size,
            wait_s=settings.pool_wait_s,
            name="runsc-pool",
            observer=observer,
        )
        self._reaper: asyncio.Task[None] | None = None
        self.runner_info: dict[str, object] = {}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await self._preflight()
        await self.reap()
        self.runner_info = await self._smoke_test()
        self._pool.start()
        self._reaper = asyncio.create_task(self._reap_periodically(), name="runsc-reaper")

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self._pool.close()
        await self.settle()
        with contextlib.suppress(Exception):
            await self.reap()

    async def settle(self) -> None:
        """Waits for background cleanups (tests use this before checking `runsc list`)."""
        while self._cleanups:
            await asyncio.gather(*list(self._cleanups), return_exceptions=True)

    @property
    def prefork(self) -> int:
        """Children each pooled sandbox forks before its job arrives."""
        return self._prefork

    def owned_ids(self) -> frozenset[str]:
        """Sandboxes this backend currently holds (idle in the pool or running a request)."""
        return frozenset(self._owned)

    async def _preflight(self) -> None:
        binary = shutil.which(self._settings.runsc_path)
        if binary is None:
            raise SandboxUnavailable(
                f"runsc not found ({self._settings.runsc_path!r}): install gVisor with "
                "`apt-get install -y runsc` (Debian 12) or set RUNSC_PATH; to develop without "
                "it use SANDBOX_BACKEND=process with SANDBOX_ALLOW_INSECURE=true"
            )
        if os.geteuid() != 0:
            raise SandboxUnavailable(
                "the runsc backend must run as root (it creates cgroups and namespaces for each "
                "sandbox); run the sandbox service as root in its own VM or container, or deploy "
                "it as a gVisor pod with SANDBOX_BACKEND=pod"
            )
        python = Path(self._settings.sandbox_python)
        exists = await asyncio.to_thread(python.exists)
        if not python.is_absolute() or python.parts[1:2] != ("usr",) or not exists:
            raise SandboxUnavailable(
                f"SANDBOX_PYTHON={python} must be an existing interpreter under /usr (only /usr "
                "is mounted into the sandbox); install it with `apt-get install -y python3`"
            )
        try:
            await asyncio.to_thread(self._layout.prepare, RUNNER_PATH)
        except OSError as exc:
            raise SandboxUnavailable(
                f"cannot prepare SANDBOX_STATE_DIR={self._layout.state_dir}: {exc}; it must be "
                "a writable local directory owned by root"
            ) from exc

    async def _smoke_test(self) -> dict[str, object]:
        """Runs one tiny job in a real sandbox; proves runsc, cgroups and the runner all work."""
        job = ExecutionJob(
            solutions=("def ok():\n    return 1\n",),
            tests=("assert ok() == 1",),
            entry_point="ok",
            setup_code="",
            limits=Limits(test_timeout_s=10.0, memory_bytes=128 * 1024 * 1024, output_bytes=0),
        )
        try:
            sandbox = await self._create()
        except (OSError, TimeoutError, ProtocolError) as exc:
            raise SandboxUnavailable(
                f"runsc could not start a sandbox: {exc}. Check that `{self._settings.runsc_path}"
                f" --platform={self._settings.runsc_platform} --network=none do true` works as "
                "root, that cgroups are mounted under /sys/fs/cgroup, and that the platform "
                "is ptrace where KVM is unavailable (RUNSC_PLATFORM)"
            ) from exc
        result = await self._run_in(sandbox, job, [0], 60.0)
        row = result.rows.get(0)
        if row is None or row.tests[0].outcome is not Outcome.PASSED:
            raise SandboxUnavailable(
                "runsc started but the smoke-test job did not pass "
                f"({'; '.join(result.notes) or row}); see the service log for runsc's stderr"
            )
        python = str(sandbox.ready.get("python", ""))
        if not python.startswith("3.11") and not python.startswith("3.12"):
            raise SandboxUnavailable(
                f"{self._settings.sandbox_python} inside the sandbox is Python {python}; the "
                "runner needs 3.11 or 3.12"
            )
        if sandbox.ready.get("seccomp") is not True:
            _log.warning("runner cannot install seccomp here; fork is bounded by cgroups only")
        return dict(sandbox.ready)

    # ---------------------------------------------------------------- sandboxes

    async def _create(self) -> _Sandbox:
        sandbox_id = _ID_PREFIX + secrets.token_hex(6)
        self._owned.add(sandbox_id)
        spec = oci_spec(
            rootfs=self._layout.rootfs,
            runner_dir=self._layout.runner_dir,
            python=self._settings.sandbox_python,
            limits=self._bundle_limits,
            cgroups_path=f"/{self._cgroup_parent}/{sandbox_id}",
            runner_args=(str(self._prefork),),
        )
        try:
            bundle = await asyncio.to_thread(self._layout.write_bundle, sandbox_id, spec)
            proc = await self._cli.spawn_run(bundle, sandbox_id)
        except BaseException:
            self._owned.discard(sandbox_id)
            await asyncio.to_thread(self._layout.remove_bundle, sandbox_id)
            raise
        sandbox = _Sandbox(sandbox_id, proc, asyncio.create_task(drain_bounded(proc.stderr)))
        try:
            assert proc.stdout is not None
            sandbox.ready = await asyncio.wait_for(wait_ready(proc.stdout), self._start_timeout_s)
        except BaseException as exc:
            await self._destroy(sandbox)
            tail = sandbox.stderr_tail.result() if sandbox.stderr_tail.done() else b""
            if isinstance(exc, ProtocolError | TimeoutError) and tail:
                raise ProtocolError(f"{exc}; runsc said: {tail.decode(errors='replace')}") from exc
            raise
        return sandbox

    async def _destroy(self, sandbox: _Sandbox, exit_wait_s: float = 0.0) -> None:
        """kill (if running) then always delete; waits for the client; removes the bundle.

        `exit_wait_s` lets a runner that has finished exit on its own, which is cheaper than
        a `runsc kill` round trip.
        """
        try:
            if sandbox.proc.returncode is None and exit_wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(sandbox.proc.wait()), exit_wait_s)
            if sandbox.proc.returncode is None:
                await self._cli.kill_all(sandbox.id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(sandbox.proc.wait()), 2.0)
            # `runsc run` removes a container that exited by itself; spawning `runsc delete`
            # then only costs CPU (a Go start-up per request). So delete whenever the client
            # still runs or any state of this id is left under the root.
            gone = False
            if sandbox.proc.returncode is not None:
                gone = not await asyncio.to_thread(self._has_state, sandbox.id)
            if not gone:
                gone = await self._cli.delete(sandbox.id)
            try:
                await asyncio.wait_for(sandbox.proc.wait(), 10.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    sandbox.proc.kill()
                await sandbox.proc.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sandbox.stderr_tail, 5.0)
            if not gone:
                # A sandbox still booting refuses `delete` ("context deadline exceeded"); once
                # its client has exited, it has usually cleaned up, or a second delete works.
                gone = not await asyncio.to_thread(self._has_state, sandbox.id)
                gone = gone or await self._cli.delete(sandbox.id)
            if gone:
                await asyncio.to_thread(self._layout.remove_bundle, sandbox.id)
                self._owned.discard(sandbox.id)
            else:
                _log.warning("runsc delete %s failed; the reaper will retry", sandbox.id)
                self._owned.discard(sandbox.id)  # no longer ours: the reaper may take it
        except Exception:
            _log.exception("destroying sandbox %s failed; the reaper will retry", sandbox.id)
            self._owned.discard(sandbox.id)

    def _has_state(self, sandbox_id: str) -> bool:
        return any(self._layout.runsc_root.glob(f"{sandbox_id}_*"))

    def _destroy_later(self, sandbox: _Sandbox, exit_wait_s: float = 0.0) -> None:
        task = asyncio.create_task(
            self._destroy(sandbox, exit_wait_s), name=f"destroy-{sandbox.id}"
        )
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def reap(self) -> list[str]:
        """Deletes every sandbox and bundle under the state root that nothing here owns."""
        reaped: list[str] = []
        for sandbox_id in await self._cli.list_ids():
            if sandbox_id not in self._owned:
                await self._cli.kill_all(sandbox_id)
                await self._cli.delete(sandbox_id)
                reaped.append(sandbox_id)
        for sandbox_id in await asyncio.to_thread(self._layout.bundle_ids):
            if sandbox_id not in self._owned:
                await asyncio.to_thread(self._layout.remove_bundle, sandbox_id)
        removed = await asyncio.to_thread(self._remove_stale_cgroups)
        if reaped or removed:
            _log.warning(
                "reaped %d leftover sandboxes and %d empty cgroups: %s",
                len(reaped),
                len(removed),
                ", ".join(reaped + removed),
            )
        return reaped

    def _remove_stale_cgroups(self, min_age_s: float = 120.0) -> list[str]:
        """Empty sandbox cgroups left by a process that died before runsc could remove them.

        Only `cc-*` groups under our parent, only empty ones (rmdir refuses anything else), and
        only old ones: a group runsc has just made for a booting sandbox is empty for a moment.
        """
        removed: list[str] = []
        now = time.time()
        for controller in _CGROUP_ROOT.iterdir():
            parent = controller / self._cgroup_parent
            if not parent.is_dir():
                continue
            for group in parent.glob("cc-*"):
                try:
                    if (
                        now - group.stat().st_mtime < min_age_s
                        or (group / "cgroup.procs").read_text().strip()
                    ):
                        continue
                    group.rmdir()
                except OSError:
                    continue  # in use, gone already, or not ours to remove
                removed.append(f"{controller.name}/{group.name}")
        return removed

    async def _reap_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._reaper_interval_s)
            try:
                await self.reap()
            except Exception:
                _log.exception("periodic reap failed")

    # ---------------------------------------------------------------- requests

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        async with self._requests:
            return await execute_isolating(
                job, self._run_once, deadline_s=deadline_s, backend=self.name
            )

    async def _run_once(
        self, job: ExecutionJob, indices: Sequence[int], timeout_s: float
    ) -> StreamResult:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        for _ in range(3):
            sandbox = await self._pool.acquire()
            if sandbox.proc.returncode is None:
                break
            _log.warning("sandbox %s died while idle in the pool", sandbox.id)
            self._destroy_later(sandbox)
            self._pool.retire()
        else:
            return StreamResult(notes=["no live sandbox could be acquired"])
        try:
            cgroup = f"{self._cgroup_parent}/{sandbox.id}"
            if not await asyncio.to_thread(_set_cpu_weight, cgroup, _ACTIVE_SHARES):
                _log.debug("could not raise the CPU weight of sandbox %s", sandbox.id)
            return await self._run_in(sandbox, job, indices, max(0.0, end - loop.time()))
        finally:
            self._pool.retire()

    async def _run_in(
        self, sandbox: _Sandbox, job: ExecutionJob, indices: Sequence[int], timeout_s: float
    ) -> StreamResult:
        """Sends the job, collects rows; the sandbox is destroyed afterwards, whatever happened."""
        part = sub_job(job, indices)
        nonce = new_nonce()
        result = StreamResult()
        proc = sandbox.proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            async with asyncio.timeout(timeout_s):
                proc.stdin.write(encode_job(part, nonce, parallel=self._parallel))
                await proc.stdin.drain()
                proc.stdin.close()
                await read_results(proc.stdout, part, nonce, index_map=list(indices), result=result)
        except TimeoutError:
            result.deadline_hit = True
        except ProtocolError as exc:
            result.notes.append(f"sandbox {sandbox.id}: {exc}")
        except (BrokenPipeError, ConnectionResetError):
            result.notes.append(f"sandbox {sandbox.id} exited before it took the job")
        finally:
            self._destroy_later(sandbox, exit_wait_s=2.0 if result.ended else 0.0)
        if not result.ended and not result.deadline_hit:
            result.notes.append(f"sandbox {sandbox.id} ended without finishing the job")
        return result
