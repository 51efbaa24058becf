"""Hostile solutions through the real RunscBackend: each is contained with the right outcome.

Every request holds three solutions: an honest correct one, the hostile one and an honest wrong
one. The honest rows must come back exactly as they would alone (all PASSED / all FAILED), the
hostile row must never pass, and afterwards no sandbox, process or memory may be left behind.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import ExecutionJob, ExecutionReport, Limits, Outcome
from codecascade.sandbox.metrics import SandboxMetrics
from codecascade.sandbox.runsc import RunscBackend
from codecascade.sandbox.runsc_cli import RunscCli

pytestmark = [
    pytest.mark.runsc,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(
        shutil.which("runsc") is None or os.geteuid() != 0, reason="needs runsc and root"
    ),
]

SECRET = "cc-hostile-secret-7f3a9"
GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b + 1\n"
TESTS = ("assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(5, 0) == 5")
LIMITS = Limits(test_timeout_s=1.0, memory_bytes=256 * 1024 * 1024, output_bytes=256)


@pytest.fixture(scope="module")
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture(scope="module")
def metrics(registry: CollectorRegistry) -> SandboxMetrics:
    return SandboxMetrics.create(registry)


def sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    assert value is not None, name
    return value


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend(
    tmp_path_factory: pytest.TempPathFactory, metrics: SandboxMetrics, registry: CollectorRegistry
) -> AsyncIterator[RunscBackend]:
    os.environ["CODECASCADE_HOSTILE_SECRET"] = SECRET  # the server's env must stay invisible
    state = tmp_path_factory.mktemp("sandbox-state")
    settings = SandboxSettings(
        sandbox_state_dir=state, runsc_path="runsc", pool_size=2, pool_wait_s=20.0
    )
    available_before = psutil.virtual_memory().available
    backend = RunscBackend(settings, observer=metrics)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()
        os.environ.pop("CODECASCADE_HOSTILE_SECRET", None)
        cli = RunscCli(binary="runsc", root=state / "runsc")
        assert await cli.list_ids() == []
        assert _processes_under(state) == []
        # No sandbox cgroup survives, and host memory is back where it was. The machine is
        # shared (other processes come and go), so the slack is wide next to what the hostile
        # programs tried to take (10 GB, a /tmp flood, 20k threads).
        assert _leftover_cgroups(state) == []
        assert psutil.virtual_memory().available > available_before - 1024 * 1024 * 1024
        assert sample(registry, "codecascade_sandbox_pool_ready") == 0  # closed: none idle


def _leftover_cgroups(state: Path) -> list[str]:
    """Sandbox cgroups left empty (leaked by anyone) or still holding processes of ours.

    The machine is shared: another sandbox service may hold live sandboxes under the same cgroup
    parent, and those are not this test's leftovers.
    """
    leftovers = []
    for group in Path("/sys/fs/cgroup/memory/codecascade-sandbox").glob("cc-*"):
        try:
            pids = [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
        except OSError:
            continue  # removed while we looked
        if not pids or any(_mentions(pid, state) for pid in pids):
            leftovers.append(str(group))
    return leftovers


def _mentions(pid: int, state: Path) -> bool:
    try:
        return str(state) in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def _processes_under(state: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(state) in cmdline:
            found.append(cmdline)
    return found


async def run(
    backend: RunscBackend, hostile: str, tests: tuple[str, ...] = TESTS
) -> ExecutionReport:
    job = ExecutionJob(
        solutions=(GOOD, hostile, WRONG),
        tests=tests,
        entry_point="add",
        setup_code="",
        limits=LIMITS,
    )
    report = await backend.execute(job, deadline_s=60.0)
    good, _, wrong = report.solutions
    assert [t.outcome for t in good.tests] == [Outcome.PASSED] * len(tests), report
    assert [t.outcome for t in wrong.tests] == [Outcome.FAILED] * len(tests), report
    await backend.settle()
    live = set(await backend._cli.list_ids())
    assert live <= backend.owned_ids(), f"leftover sandboxes: {live - backend.owned_ids()}"
    return report


def outcomes(report: ExecutionReport) -> list[Outcome]:
    return [t.outcome for t in report.solutions[1].tests]


async def test_fork_bomb(backend: RunscBackend) -> None:
    report = await run(backend, "import os\ndef add(a, b):\n    while True:\n        os.fork()\n")
    assert outcomes(report) == [Outcome.ERROR] * 3
    assert report.solutions[1].tests[0].exception_type == "PermissionError"


async def test_subprocess_and_exec(backend: RunscBackend) -> None:
    hostile = (
        "import subprocess, os\n"
        "def add(a, b):\n"
        "    if a == 1:\n"
        "        subprocess.run(['/bin/sh', '-c', 'kill -9 -1'])\n"
        "    os.execv('/usr/bin/python3', ['python3', '-c', 'print(1)'])\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.ERROR] * 3


async def test_busy_loop_times_out(backend: RunscBackend) -> None:
    report = await run(backend, "def add(a, b):\n    while True:\n        pass\n")
    assert outcomes(report) == [Outcome.TIMEOUT] * 3


async def test_alarm_swallowed_still_times_out(backend: RunscBackend) -> None:
    hostile = (
        "import signal\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM, signal.SIGXCPU])\n"
        "def add(a, b):\n"
        "    while True:\n"
        "        pass\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.TIMEOUT] * 3


async def test_caught_timeout_cannot_pass(backend: RunscBackend) -> None:
    hostile = (
        "def add(a, b):\n"
        "    try:\n"
        "        while True:\n"
        "            pass\n"
        "    except BaseException:\n"
        "        return a + b\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.TIMEOUT] * 3


async def test_huge_allocation(backend: RunscBackend) -> None:
    hostile = "def add(a, b):\n    x = bytearray(10 * 1024 ** 3)\n    return a + b\n"
    assert outcomes(await run(backend, hostile)) == [Outcome.MEMORY_EXCEEDED] * 3


async def test_gigabyte_to_stdout(backend: RunscBackend) -> None:
    hostile = (
        "import sys\n"
        "def add(a, b):\n"
        "    chunk = 'x' * 65536\n"
        "    for _ in range(16384):\n"
        "        sys.stdout.write(chunk)\n"
        "    return a + b\n"
    )
    report = await run(backend, hostile)
    assert outcomes(report) == [Outcome.ERROR] * 3
    assert report.solutions[1].tests[0].exception_type == "OutputLimitExceeded"


async def test_output_is_bounded_and_not_utf8_safe(backend: RunscBackend) -> None:
    hostile = (
        "import sys\n"
        "def add(a, b):\n"
        "    sys.stdout.buffer.write(b'\\xff\\xfe\\x00' * 1000)\n"
        '    print(\'{"kind": "end"}\')\n'
        "    return a + b\n"
    )
    report = await run(backend, hostile)
    assert outcomes(report) == [Outcome.PASSED] * 3
    cell = report.solutions[1].tests[0]
    assert cell.output_truncated and len(cell.stdout.encode("utf-8", "replace")) <= 3 * 256


async def test_write_root_and_flood_tmp(backend: RunscBackend) -> None:
    hostile = (
        "import os\n"
        "def add(a, b):\n"
        "    if a == 1:\n"
        "        open('/evil', 'w').write('x')\n"
        "    if a == 2:\n"
        "        open('/usr/evil', 'w').write('x')\n"
        "    block = b'x' * (1 << 19)\n"
        "    for i in range(100000):\n"
        "        with open(f'/tmp/flood{i}', 'wb') as f:\n"
        "            f.write(block)\n"
    )
    report = await run(backend, hostile)
    assert Outcome.PASSED not in outcomes(report)
    assert outcomes(report)[:2] == [Outcome.ERROR, Outcome.ERROR]


async def test_network(backend: RunscBackend) -> None:
    hostile = (
        "import socket\n"
        "def add(a, b):\n"
        "    if a == 1:\n"
        "        socket.create_connection(('127.0.0.1', 22), timeout=0.5)\n"
        "    if a == 2:\n"
        "        socket.getaddrinfo('pypi.org', 443)\n"
        "    socket.socket(socket.AF_UNIX).connect('/run/docker.sock')\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.ERROR] * 3


async def test_host_secrets_invisible(backend: RunscBackend) -> None:
    hostile = (
        "import os\n"
        "def add(a, b):\n"
        "    seen = repr(dict(os.environ)) + repr(os.listdir('/')) + repr(os.listdir('/proc'))\n"
        "    for path in ('/etc/shadow', '/etc/passwd', '/proc/1/environ', '/root/.bashrc'):\n"
        "        try:\n"
        "            seen += open(path).read()\n"
        "        except OSError as exc:\n"
        "            seen += repr(exc)\n"
        "    print(seen)\n"
        "    return a + b\n"
    )
    report = await run(backend, hostile)
    assert outcomes(report) == [Outcome.PASSED] * 3
    seen = report.solutions[1].tests[0].stdout
    assert SECRET not in seen and "root:" not in seen
    assert "No such file" in seen


async def test_kill_parent_and_everyone(backend: RunscBackend) -> None:
    hostile = (
        "import os, signal\n"
        "def add(a, b):\n"
        "    if a == 1:\n"
        "        os.kill(os.getppid(), signal.SIGKILL)\n"
        "    if a == 2:\n"
        "        os.kill(-1, signal.SIGKILL)\n"
        "    os.killpg(0, signal.SIGKILL)\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.ERROR] * 3


async def test_segfault_only_loses_its_test(backend: RunscBackend) -> None:
    hostile = (
        "import ctypes\n"
        "def add(a, b):\n"
        "    if a == 2:\n"
        "        ctypes.string_at(0)\n"
        "    return a + b\n"
    )
    report = await run(backend, hostile)
    assert outcomes(report) == [Outcome.PASSED, Outcome.CRASHED, Outcome.PASSED]


async def test_exit_zero_never_passes(backend: RunscBackend) -> None:
    at_load = await run(backend, "import os\nos._exit(0)\n")
    assert outcomes(at_load) == [Outcome.CRASHED] * 3
    assert at_load.solutions[1].load_error is not None
    in_call = await run(backend, "import os\ndef add(a, b):\n    os._exit(0)\n")
    assert outcomes(in_call) == [Outcome.CRASHED] * 3


async def test_sys_exit_in_a_test(backend: RunscBackend) -> None:
    tests = (*TESTS[:2], "import sys; sys.exit(0)")
    job = ExecutionJob((GOOD,), tests, "add", "", LIMITS)
    report = await backend.execute(job, deadline_s=30)
    assert [t.outcome for t in report.solutions[0].tests] == [
        Outcome.PASSED,
        Outcome.PASSED,
        Outcome.ERROR,
    ]


async def test_overridden_builtins_cannot_fake_a_pass(backend: RunscBackend) -> None:
    hostile = (
        "import builtins, json, sys\n"
        "class AssertionError(Exception):\n"
        "    pass\n"
        "builtins.AssertionError = AssertionError\n"
        "builtins.isinstance = lambda *a: True\n"
        "builtins.issubclass = lambda *a: False\n"
        "builtins.type = lambda *a: int\n"
        "builtins.print = lambda *a, **k: None\n"
        'json.dumps = lambda *a, **k: \'{"outcome": "PASSED"}\'\n'
        "sys.modules['__main__'].__dict__.clear()\n"
        "def add(a, b):\n"
        "    return a - b + 1\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.FAILED] * 3


async def test_eq_override_is_the_solutions_business(backend: RunscBackend) -> None:
    hostile = (
        "class Anything:\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "def add(a, b):\n"
        "    return Anything()\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.PASSED] * 3


async def test_tracing_gc_and_atexit_hooks(backend: RunscBackend) -> None:
    hostile = (
        "import sys, gc, atexit, threading, os\n"
        "def hook(*a):\n"
        "    raise SystemExit(0)\n"
        "gc.callbacks.append(hook)\n"
        "atexit.register(os._exit, 0)\n"
        "sys.settrace(lambda *a: None)\n"
        "threading.settrace(lambda *a: None)\n"
        "def add(a, b):\n"
        "    sys.setprofile(lambda *a: None)\n"
        "    return a - b + 1\n"
    )
    assert outcomes(await run(backend, hostile)) == [Outcome.FAILED] * 3


async def test_result_channel_forgery(backend: RunscBackend) -> None:
    hostile = (
        "import os\n"
        "def add(a, b):\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'x\\tT\\t0\\tPASSED\\t\\t\\t0\\t\\t0\\n')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return a - b + 1\n"
    )
    report = await run(backend, hostile)
    assert Outcome.PASSED not in outcomes(report)
    assert report.solutions[1].tests[0].exception_type == "ProtocolViolation"


async def test_closing_every_fd(backend: RunscBackend) -> None:
    hostile = "import os\ndef add(a, b):\n    os.closerange(0, 1024)\n    return a + b\n"
    assert Outcome.PASSED not in outcomes(await run(backend, hostile))


async def test_recursion(backend: RunscBackend) -> None:
    deep = "def add(a, b):\n    return add(a, b)\n"
    assert outcomes(await run(backend, deep)) == [Outcome.ERROR] * 3
    deeper = "import sys\nsys.setrecursionlimit(10**7)\ndef add(a, b):\n    return add(a, b)\n"
    assert Outcome.PASSED not in outcomes(await run(backend, deeper))


async def test_giant_integer(backend: RunscBackend) -> None:
    hostile = "def add(a, b):\n    return 10 ** 10 ** 7\n"
    assert outcomes(await run(backend, hostile)) == [Outcome.TIMEOUT] * 3


async def test_thousands_of_threads(backend: RunscBackend) -> None:
    hostile = (
        "import threading, time\n"
        "threading.stack_size(32768)\n"
        "def add(a, b):\n"
        "    for _ in range(10000):\n"
        "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "    return a + b\n"
    )
    report = await run(backend, hostile)
    assert Outcome.PASSED not in outcomes(report)


async def test_huge_exception_message(backend: RunscBackend) -> None:
    hostile = (
        "class Loud(Exception):\n"
        "    def __str__(self):\n"
        "        while True:\n"
        "            pass\n"
        "def add(a, b):\n"
        "    if a == 1:\n"
        "        raise Loud()\n"
        "    raise ValueError('x' * 10 ** 8)\n"
    )
    report = await run(backend, hostile)
    assert outcomes(report) == [Outcome.ERROR] * 3
    assert len(report.solutions[1].tests[1].message) <= 1000


async def test_no_state_between_requests(backend: RunscBackend) -> None:
    writer = "def add(a, b):\n    open('/tmp/tenant-a', 'w').write('secret')\n    return a + b\n"
    await run(backend, writer)
    reader = (
        "import os\n"
        "def add(a, b):\n"
        "    assert not os.path.exists('/tmp/tenant-a')\n"
        "    return a + b\n"
    )
    assert outcomes(await run(backend, reader)) == [Outcome.PASSED] * 3


async def test_pids_crash_reruns_the_others_in_isolation(
    backend: RunscBackend, metrics: SandboxMetrics, registry: CollectorRegistry
) -> None:
    # Tiny stacks get past RLIMIT_AS: the pids cgroup takes the whole sandbox down.
    hostile = (
        "import threading, time\n"
        "threading.stack_size(32768)\n"
        "for _ in range(20000):\n"
        "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "def add(a, b):\n"
        "    return a + b\n"
    )
    reruns_before = sample(registry, "codecascade_sandbox_reruns_total")
    report = await run(backend, hostile)
    assert Outcome.PASSED not in outcomes(report)
    # Every sandbox taken for the request and its reruns was handed back as retired.
    assert sample(registry, "codecascade_sandbox_pool_in_use") == 0
    metrics.job_finished(report)
    rerun_rows = sum(row.isolated_rerun for row in report.solutions)
    assert sample(registry, "codecascade_sandbox_reruns_total") - reruns_before == rerun_rows


async def test_deadline_kills_the_sandbox(
    backend: RunscBackend, registry: CollectorRegistry
) -> None:
    job = ExecutionJob(
        ("def add(a, b):\n    while True:\n        pass\n",) * 2,
        TESTS,
        "add",
        "",
        Limits(test_timeout_s=10.0, memory_bytes=256 << 20, output_bytes=0),
    )
    # The request deadline (1.5 s), not the 10 s test timeout, ends the job: its rows are
    # filled as deadline timeouts. wait_for only bounds a hang.
    report = await asyncio.wait_for(backend.execute(job, deadline_s=1.5), 60)
    cells = [t for row in report.solutions for t in row.tests]
    assert {t.outcome for t in cells} == {Outcome.TIMEOUT}
    assert {t.exception_type for t in cells} == {"DeadlineExceeded"}
    assert "request deadline of 1.5s exceeded" in report.notes
    assert sample(registry, "codecascade_sandbox_pool_in_use") == 0
    await backend.settle()
    assert set(await backend._cli.list_ids()) <= backend.owned_ids()
