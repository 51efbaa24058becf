"""Sandbox latency and throughput: runsc cold, runsc warm pool, and the plain-process backend.

Workload: 5 solutions x 10 HumanEval-like asserts (4 correct solutions, 1 wrong), one request at
a time for latency, then `--concurrency` requests at once for throughput. All backends run in the
same invocation so the printed ratios compare like with like on a noisy machine.

    python benchmarks/sandbox.py --iterations 30 --throughput-requests 40
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from codecascade.sandbox.config import SandboxSettings
from codecascade.sandbox.execution import Backend, ExecutionJob, Limits
from codecascade.sandbox.process import ProcessBackend
from codecascade.sandbox.runsc import RunscBackend

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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latency(backend: Backend, iterations: int, pause_s: float) -> list[float]:
    samples = []
    for _ in range(iterations):
        began = time.perf_counter()
        report = await backend.execute(JOB, deadline_s=60)
        samples.append(time.perf_counter() - began)
        assert sum(map(sum, report.passed_matrix())) >= 40, report
        await asyncio.sleep(pause_s)  # let the pool refill, as between real requests
    return samples


async def throughput(backend: Backend, requests: int, concurrency: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            await backend.execute(JOB, deadline_s=60)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - began)


def line(name: str, samples: list[float]) -> str:
    return (
        f"{name:<26} p50 {statistics.median(samples) * 1000:7.1f} ms   "
        f"p95 {pct(samples, 0.95) * 1000:7.1f} ms   (n={len(samples)})"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as state:

        def settings(pool: int) -> SandboxSettings:
            return SandboxSettings(
                sandbox_state_dir=Path(state) / f"pool{pool}",
                pool_size=pool,
                pool_wait_s=30.0,
                max_concurrency=args.concurrency,
            )

        cold = RunscBackend(settings(0), parallel=args.parallel)
        await cold.start()
        cold_s = await latency(cold, args.cold_iterations, 0.0)
        await cold.close()

        warm = RunscBackend(settings(args.pool), parallel=args.parallel)
        await warm.start()
        await asyncio.sleep(2.0)
        warm_s = await latency(warm, args.iterations, args.pause)
        await warm.settle()
        await asyncio.sleep(2.0)
        warm_rps = await throughput(warm, args.throughput_requests, args.concurrency)
        await warm.close()

        plain = ProcessBackend(
            allow_insecure=True,
            pool_size=0,
            max_concurrency=args.concurrency,
            parallel=args.parallel,
        )
        await plain.start()
        plain_s = await latency(plain, args.iterations, 0.0)
        plain_rps = await throughput(plain, args.throughput_requests, args.concurrency)
        await plain.close()

    print(
        f"workload: {len(JOB.solutions)} solutions x {len(JOB.tests)} tests, "
        f"runner parallel={args.parallel}, pool={args.pool}"
    )
    print(line("runsc cold (pool 0)", cold_s))
    print(line("runsc warm pool", warm_s))
    print(line("process (no sandbox)", plain_s))
    print(
        f"throughput @ concurrency {args.concurrency}: runsc warm {warm_rps:.1f} req/s, "
        f"process {plain_rps:.1f} req/s"
    )
    warm_p50, plain_p50 = statistics.median(warm_s), statistics.median(plain_s)
    print(
        f"ratios: warm/process p50 {warm_p50 / plain_p50:.2f}x, "
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
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between warm requests")
    asyncio.run(main(parser.parse_args()))
