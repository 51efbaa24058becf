"""Backend selection and refusals, the warm pool and its counts, the process backend end to end."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from codecascade.sandbox.backends import build_backend
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.errors import PoolExhausted, SandboxUnavailable
from codecascade.sandbox.execution import ExecutionJob, Limits, Outcome
from codecascade.sandbox.metrics import SandboxMetrics
from codecascade.sandbox.pod import PodBackend, detect_gvisor
from codecascade.sandbox.pool import WarmPool
from codecascade.sandbox.process import ProcessBackend
from codecascade.sandbox.runsc import RunscBackend

JOB = ExecutionJob(
    solutions=("def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n"),
    tests=("assert add(1, 2) == 3", "assert add(0, 0) == 0"),
    entry_point="add",
    setup_code="",
    limits=Limits(test_timeout_s=2.0, memory_bytes=256 << 20, output_bytes=64),
)


def test_factory_maps_settings(tmp_path: Path) -> None:
    assert isinstance(build_backend(SandboxSettings(sandbox_state_dir=tmp_path)), RunscBackend)
    pod = build_backend(SandboxSettings(sandbox_backend="pod"))
    assert isinstance(pod, PodBackend)
    insecure = SandboxSettings(sandbox_backend="process", sandbox_allow_insecure=True)
    assert isinstance(build_backend(insecure), ProcessBackend)


def test_factory_passes_the_sandbox_knobs(tmp_path: Path) -> None:
    knobs = {
        "sandbox_parallel": 3,
        "sandbox_pids_limit": 1024,
        "sandbox_start_timeout_s": 7.0,
        "sandbox_reaper_interval_s": 11.0,
    }
    runsc = build_backend(SandboxSettings(sandbox_state_dir=tmp_path, **knobs))
    assert isinstance(runsc, RunscBackend)
    assert runsc._parallel == 3
    assert runsc._bundle_limits.pids == 1024
    assert runsc._bundle_limits.cpu_cores == 3.0
    assert runsc._start_timeout_s == 7.0
    assert runsc._reaper_interval_s == 11.0
    # Built directly, the backend reads the same settings.
    direct = RunscBackend(SandboxSettings(sandbox_state_dir=tmp_path, **knobs))
    assert (direct._parallel, direct._bundle_limits.pids) == (3, 1024)
    for backend in (
        build_backend(
            SandboxSettings(sandbox_backend="process", sandbox_allow_insecure=True, **knobs)
        ),
        build_backend(SandboxSettings(sandbox_backend="pod", **knobs)),
    ):
        assert isinstance(backend, ProcessBackend | PodBackend)
        assert (backend._parallel, backend._start_timeout_s) == (3, 7.0)


def test_process_backend_needs_the_flag() -> None:
    with pytest.raises(SandboxUnavailable, match="SANDBOX_ALLOW_INSECURE"):
        build_backend(SandboxSettings(sandbox_backend="process"))


def test_gvisor_detection() -> None:
    banner = b"<6>[    0.000000] Starting gVisor...\n"
    assert detect_gvisor(lambda: banner) is not None
    assert detect_gvisor(lambda: b"<6>[0.0] Linux version 6.1.0\n") is None

    def denied() -> bytes:
        raise PermissionError(1, "dmesg_restrict")

    assert detect_gvisor(denied) is None


async def test_pod_backend_refuses_outside_gvisor() -> None:
    backend = PodBackend(probe=lambda: None)
    with pytest.raises(SandboxUnavailable, match="runtimeClassName"):
        await backend.start()


async def test_runsc_backend_explains_a_missing_binary(tmp_path: Path) -> None:
    settings = SandboxSettings(sandbox_state_dir=tmp_path, runsc_path="/nonexistent/runsc")
    with pytest.raises(SandboxUnavailable, match="apt-get install -y runsc"):
        await RunscBackend(settings).start()


async def test_pool_hands_out_once_and_times_out() -> None:
    made: list[int] = []
    destroyed: list[int] = []

    async def create() -> int:
        made.append(len(made))
        return made[-1]

    async def destroy(item: int) -> None:
        destroyed.append(item)

    pool: WarmPool[int] = WarmPool(create=create, destroy=destroy, size=1, wait_s=0.5)
    pool.start()
    first = await pool.acquire()
    second = await pool.acquire()
    assert first != second
    await pool.close()
    assert sorted([*destroyed, first, second]) == sorted(made)

    async def never() -> int:
        await asyncio.Event().wait()  # a start that never finishes
        return 0

    slow: WarmPool[int] = WarmPool(create=never, destroy=destroy, size=1, wait_s=0.1)
    slow.start()
    with pytest.raises(PoolExhausted):
        await slow.acquire()
    await slow.close()


class Counts:
    """A `PoolObserver` that remembers what it was told and lets a test wait for a state."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []
        self._changed = asyncio.Event()

    def pool_changed(self, *, ready: int, in_use: int) -> None:
        self.seen.append((ready, in_use))
        self._changed.set()

    async def until(self, ready: int, in_use: int) -> None:
        async def wait() -> None:
            while self.seen[-1:] != [(ready, in_use)]:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), 30)


async def test_pool_tells_its_observer_what_is_ready_and_in_use() -> None:
    async def create() -> object:
        return object()

    async def destroy(item: object) -> None:
        return None

    counts = Counts()
    pool: WarmPool[object] = WarmPool(
        create=create, destroy=destroy, size=2, wait_s=5, observer=counts
    )
    pool.start()
    await counts.until(ready=2, in_use=0)
    await pool.acquire()
    assert counts.seen[-1] == (1, 1)  # nothing ran in between: the refill comes later
    await pool.acquire()
    assert pool.in_use_count == 2  # while the pool refills in the background
    pool.retire()
    pool.retire()
    await counts.until(ready=2, in_use=0)
    await pool.close()
    assert counts.seen[-1] == (0, 0)


async def test_cold_pool_counts_items_in_use() -> None:
    async def create() -> int:
        return 1

    async def destroy(item: int) -> None:
        return None

    counts = Counts()
    pool: WarmPool[int] = WarmPool(
        create=create, destroy=destroy, size=0, wait_s=1, observer=counts
    )
    await pool.acquire()
    pool.retire()
    assert counts.seen == [(0, 1), (0, 0)]


async def test_process_backend_end_to_end(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    metrics = SandboxMetrics.create(registry)
    backend = ProcessBackend(allow_insecure=True, pool_size=1, observer=metrics)
    await backend.start()
    try:
        with caplog.at_level(logging.WARNING):
            report = await backend.execute(JOB, deadline_s=30)
        assert "INSECURE" in caplog.text
        assert report.passed_matrix() == [[True, True], [False, True]]
        assert report.solutions[1].tests[0].outcome is Outcome.FAILED
        assert registry.get_sample_value("codecascade_sandbox_pool_in_use") == 0
    finally:
        await backend.close()
    assert registry.get_sample_value("codecascade_sandbox_pool_ready") == 0
    metrics.job_finished(report)
    for outcome, cells in (("passed", 3), ("failed", 1), ("crashed", 0)):
        value = registry.get_sample_value(
            "codecascade_sandbox_test_outcomes_total", {"outcome": outcome}
        )
        assert value == cells
    assert registry.get_sample_value("codecascade_sandbox_reruns_total") == 0
    assert registry.get_sample_value("codecascade_sandbox_job_duration_seconds_count") == 1


def test_sandbox_metrics_are_declared_in_docs() -> None:
    root = Path(__file__).resolve().parents[3]
    doc = yaml.safe_load((root / "docs" / "telemetry" / "metrics.yaml").read_text())
    declared = {m["name"]: (m["type"], m["labels"]) for m in doc["metrics"]}
    registry = CollectorRegistry()
    SandboxMetrics.create(registry)
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = sorted({k for s in family.samples for k in s.labels} - {"le"})
        assert declared.get(name) == (family.type, labels), name
        assert family.documentation


def test_cpu_weight_is_written_to_the_sandbox_cgroup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codecascade.sandbox import runsc

    monkeypatch.setattr(runsc, "_CGROUP_ROOT", tmp_path)
    assert not runsc._set_cpu_weight("codecascade-sandbox/cc-x", 1024)  # no such cgroup
    v1 = tmp_path / "cpu" / "codecascade-sandbox" / "cc-x"
    v1.mkdir(parents=True)
    (v1 / "cpu.shares").write_text("64")
    assert runsc._set_cpu_weight("codecascade-sandbox/cc-x", 1024)
    assert (v1 / "cpu.shares").read_text() == "1024"
