"""Sandbox latency and throughput: runsc cold, runsc warm pool (direct and through the gRPC
service), and the plain-process backend.

Workload: 5 solutions x 10 HumanEval-like asserts (4 correct solutions, 1 wrong), one request at
a time for latency, then `--concurrency` requests at once for throughput. All backends run in the
same invocation so the printed ratios compare like with like on a noisy machine. The "grpc" rows
start `SandboxService` in-process with the mesh server on 127.0.0.1:0 and call `Execute` through
a mesh channel, so they include proto conversion, validation and the interceptors.

CPU per request is the CPU time the benchmark caused during a throughput run divided by its
requests. Run as root on cgroup v1 it is exact even on a shared machine: this process (and so
every `runsc run` client and plain runner it starts) is moved into a cpuacct cgroup of its own,
and the sandboxes are created under a cgroup parent of their own; the two usages are summed.
Elsewhere it falls back to the whole machine's busy time (/proc/stat), which also counts anything
else running, hence the load average printed next to it.

    python benchmarks/sandbox.py --iterations 30 --throughput-requests 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from google.protobuf.duration_pb2 import Duration

from codecascade.mesh.channels import open_channel
from codecascade.mesh.server import running_server
from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import Backend, ExecutionJob, Limits
from codecascade.sandbox.process import ProcessBackend
from codecascade.sandbox.runsc import RunscBackend
from codecascade.sandbox.server import SandboxService
from codecascade.v1 import sandbox_service_pb2 as pb
from codecascade.v1 import sandbox_service_pb2_grpc as pb_grpc

SOLUTION = """from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold{tweak}:
                return True
    return False
"""
TESTS = (
    "assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True",
    "assert has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False",
    "assert has_close_elements([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True",
    "assert has_close_elements([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False",
    "assert has_close_elements([1.0, 2.0, 3.0, 4.0, 5.0, 2.0], 0.1) == True",
    "assert has_close_elements([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True",
    "assert has_close_elements([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False",
    "assert has_close_elements([], 0.5) == False",
    "assert has_close_elements([1.0], 0.5) == False",
    "assert has_close_elements([1.0, 1.0], 0.0001) == True",
)
JOB = ExecutionJob(
    solutions=tuple(SOLUTION.format(tweak=" * 0" if i == 4 else "") for i in range(5)),
    tests=TESTS,
    entry_point="has_close_elements",
    setup_code="",
    limits=Limits(test_timeout_s=3.0, memory_bytes=256 * 1024 * 1024, output_bytes=4096),
)


GRPC_REQUEST = pb.ExecuteRequest(
    solutions=JOB.solutions,
    tests=JOB.tests,
    entry_point=JOB.entry_point,
    limits=pb.ExecutionLimits(
        test_timeout=Duration(seconds=3),
        memory_bytes=JOB.limits.memory_bytes,
        output_bytes=JOB.limits.output_bytes,
    ),
)
Call = Callable[[], Awaitable[int]]  # one request; returns the number of passed cells


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class CpuMeter:
    """CPU seconds this benchmark caused: its own cpuacct cgroup plus its sandboxes' parent."""

    CPUACCT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self) -> None:
        self.sandbox_parent = f"codecascade-bench-sandboxes-{os.getpid()}"
        self._own = self.CPUACCT / f"codecascade-bench-{os.getpid()}"
        self.exact = False
        try:
            self._own.mkdir()
            (self._own / "cgroup.procs").write_text(str(os.getpid()))
            self.exact = True
        except OSError:
            pass

    def read(self) -> float:
        if not self.exact:
            with open("/proc/stat", encoding="ascii") as stat:
                ticks = [int(v) for v in stat.readline().split()[1:]]
            return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        total = 0
        for group in (self._own, self.CPUACCT / self.sandbox_parent):
            try:
                total += int((group / "cpuacct.usage").read_text())
            except (OSError, ValueError):
                pass
        return total / 1e9

    def close(self) -> None:
        if self.exact:
            (self.CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
            with contextlib.suppress(OSError):
                self._own.rmdir()
            # runsc made the sandboxes' parent in every controller's hierarchy.
            for group in self.CPUACCT.parent.glob(f"*/{self.sandbox_parent}"):
                with contextlib.suppress(OSError):
                    group.rmdir()


def direct(backend: Backend) -> Call:
    async def call() -> int:
        report = await backend.execute(JOB, deadline_s=60)
        return sum(map(sum, report.passed_matrix()))

    return call


def via_grpc(stub: pb_grpc.SandboxServiceAsyncStub) -> Call:
    async def call() -> int:
        response = await stub.Execute(GRPC_REQUEST, timeout=60)
        return sum(t.outcome == pb.OUTCOME_PASSED for row in response.solutions for t in row.tests)

    return call


async def latency(call: Call, iterations: int, pause_s: float) -> list[float]:
    samples = []
    for _ in range(iterations):
        began = time.perf_counter()
        passed = await call()
        samples.append(time.perf_counter() - began)
        assert passed >= 40, passed
        await asyncio.sleep(pause_s)  # let the pool refill, as between real requests
    return samples


async def throughput(
    call: Call, requests: int, concurrency: int, meter: CpuMeter
) -> tuple[float, float]:
    """Requests per second, and CPU seconds per request."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            assert await call() >= 40

    cpu, began = meter.read(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - began, meter.read() - cpu
    return requests / elapsed, cpu / requests


def line(name: str, samples: list[float]) -> str:
    return (
        f"{name:<26} p50 {statistics.median(samples) * 1000:7.1f} ms   "
        f"p95 {pct(samples, 0.95) * 1000:7.1f} ms   (n={len(samples)})"
    )


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


async def main(args: argparse.Namespace) -> None:
    logging.getLogger("codecascade.sandbox.process").setLevel(logging.ERROR)  # per-call warning
    load_before = loadavg()
    meter = CpuMeter()
    try:
        await measure(args, meter)
    finally:
        meter.close()
    print(f"load average before: {load_before}, after: {loadavg()}")


async def measure(args: argparse.Namespace, meter: CpuMeter) -> None:
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as state:

        def settings(pool: int) -> SandboxSettings:
            return SandboxSettings(
                sandbox_state_dir=Path(state) / f"pool{pool}",
                pool_size=pool,
                pool_wait_s=30.0,
                max_concurrency=args.concurrency,
                sandbox_parallel=args.parallel,
                grpc_port=0,
            )

        def runsc(pool: int) -> RunscBackend:
            return RunscBackend(
                settings(pool), cgroup_parent=meter.sandbox_parent, prefork=args.prefork
            )

        cold = runsc(0)
        await cold.start()
        cold_s = await latency(direct(cold), args.cold_iterations, 0.0)
        await cold.close()

        warm = runsc(args.pool)
        await warm.start()
        warm_prefork = warm.prefork
        await asyncio.sleep(2.0)
        warm_s = await latency(direct(warm), args.iterations, args.pause)
        await warm.settle()
        await asyncio.sleep(2.0)
        warm_rps, warm_cpu = await throughput(
            direct(warm), args.throughput_requests, args.concurrency, meter
        )
        await warm.close()

        service_settings = settings(args.pool)
        grpc_backend = RunscBackend(
            service_settings, cgroup_parent=meter.sandbox_parent, prefork=args.prefork
        )
        service = SandboxService(service_settings, grpc_backend)
        async with running_server(service_settings, service) as running:
            async with open_channel(running.address) as channel:
                stub = pb_grpc.SandboxServiceStub(channel)
                await asyncio.sleep(2.0)
                grpc_s = await latency(via_grpc(stub), args.iterations, args.pause)
                await grpc_backend.settle()
                await asyncio.sleep(2.0)
                grpc_rps, grpc_cpu = await throughput(
                    via_grpc(stub), args.throughput_requests, args.concurrency, meter
                )

        plain = ProcessBackend(
            allow_insecure=True,
            pool_size=0,
            max_concurrency=args.concurrency,
            parallel=args.parallel,
            prefork=0,  # started per request: plain `python3 runner.py`, as before
        )
        await plain.start()
        plain_s = await latency(direct(plain), args.iterations, 0.0)
        plain_rps, plain_cpu = await throughput(
            direct(plain), args.throughput_requests, args.concurrency, meter
        )
        await plain.close()

    print(
        f"workload: {len(JOB.solutions)} solutions x {len(JOB.tests)} tests, "
        f"runner parallel={args.parallel}, prefork={warm_prefork}, pool={args.pool}, "
        f"{os.cpu_count()} cores"
    )
    print(line("runsc cold (pool 0)", cold_s))
    print(line("runsc warm pool", warm_s))
    print(line("runsc warm pool via grpc", grpc_s))
    print(line("process (no sandbox)", plain_s))
    print(
        f"throughput @ concurrency {args.concurrency}: runsc warm {warm_rps:.1f} req/s, "
        f"via grpc {grpc_rps:.1f} req/s, process {plain_rps:.1f} req/s"
    )
    print(
        f"CPU per request ({'cgroups' if meter.exact else 'whole machine'}): "
        f"runsc warm {warm_cpu * 1000:.0f} ms, "
        f"via grpc {grpc_cpu * 1000:.0f} ms, process {plain_cpu * 1000:.0f} ms"
    )
    warm_p50, plain_p50 = statistics.median(warm_s), statistics.median(plain_s)
    print(
        f"ratios: warm/process p50 {warm_p50 / plain_p50:.2f}x, "
        f"grpc/process p50 {statistics.median(grpc_s) / plain_p50:.2f}x, "
        f"cold/warm p50 {statistics.median(cold_s) / warm_p50:.2f}x, "
        f"process/warm throughput {plain_rps / warm_rps:.2f}x"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30, help="warm and process samples")
    parser.add_argument("--cold-iterations", type=int, default=10)
    parser.add_argument("--throughput-requests", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pool", type=int, default=2, help="pre-started sandboxes")
    parser.add_argument("--parallel", type=int, default=2, help="children per sandbox")
    parser.add_argument(
        "--prefork", type=int, default=None, help="children forked ahead (default: 2 x parallel)"
    )
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between warm requests")
    asyncio.run(main(parser.parse_args()))
