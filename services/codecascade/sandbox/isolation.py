"""Turning runner streams into a complete report, rerunning what a crashed sandbox took down.

All solutions of a request share one sandbox (that is what makes a request cost ~150 ms, not
k x 220 ms). The price: a solution that takes the whole sandbox down (pids cgroup, OOM of the
sentry) also takes the unfinished rows of its neighbours. So every solution without a row is
rerun alone in a fresh sandbox and marked `isolated_rerun`; only a solution that crashes its own
sandbox is left with CRASHED cells. A request that was already a single solution is not rerun.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from codecascade.sandbox.execution import (
    CellResult,
    ExecutionJob,
    ExecutionReport,
    Outcome,
    SolutionResult,
)
from codecascade.sandbox.protocol import StreamResult

__all__ = ["RunOnce", "execute_isolating", "sub_job"]

_log = logging.getLogger(__name__)

# Runs the given solution indices of a job in one fresh sandbox within `timeout_s` seconds.
RunOnce = Callable[[ExecutionJob, Sequence[int], float], Awaitable[StreamResult]]


def sub_job(job: ExecutionJob, indices: Sequence[int]) -> ExecutionJob:
    """The same job restricted to some solutions (row i of the result is indices[i])."""
    return dataclasses.replace(job, solutions=tuple(job.solutions[i] for i in indices))


def _filled(job: ExecutionJob, index: int, outcome: Outcome, kind: str, why: str) -> SolutionResult:
    cells = tuple(
        CellResult(test_index=t, outcome=outcome, exception_type=kind, message=why)
        for t in range(len(job.tests))
    )
    return SolutionResult(solution_index=index, tests=cells, isolated_rerun=False)


async def execute_isolating(
    job: ExecutionJob,
    run_once: RunOnce,
    *,
    deadline_s: float,
    backend: str,
    rerun_concurrency: int = 2,
) -> ExecutionReport:
    """Runs the job, reruns rows lost to a sandbox crash in isolation, fills what is left."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    end = began + deadline_s
    notes: list[str] = []
    everything = list(range(len(job.solutions)))
    rows: dict[int, SolutionResult] = {}
    deadline_hit = False

    if everything:
        first = await run_once(job, everything, max(0.0, end - loop.time()))
        rows.update(first.rows)
        notes.extend(first.notes)
        deadline_hit = first.deadline_hit
    missing = [i for i in everything if i not in rows]

    if missing and not deadline_hit and len(everything) > 1:
        notes.append(f"sandbox crashed; rerunning solutions {missing} one per sandbox")
        slots = asyncio.Semaphore(max(1, rerun_concurrency))

        async def rerun(index: int) -> StreamResult:
            async with slots:
                remaining = end - loop.time()
                if remaining <= 0:
                    return StreamResult(deadline_hit=True)
                return await run_once(job, [index], remaining)

        results = await asyncio.gather(*(rerun(i) for i in missing), return_exceptions=True)
        for index, outcome in zip(missing, results, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                _log.warning("isolated rerun of solution %d failed: %s", index, outcome)
                notes.append(f"isolated rerun of solution {index} failed: {outcome}")
                continue
            notes.extend(outcome.notes)
            deadline_hit = deadline_hit or outcome.deadline_hit
            if index in outcome.rows:
                rows[index] = dataclasses.replace(outcome.rows[index], isolated_rerun=True)
            else:
                rows[index] = dataclasses.replace(
                    _filled(
                        job, index, Outcome.CRASHED, "SandboxCrashed", "crashed its own sandbox"
                    ),
                    isolated_rerun=True,
                )

    for index in everything:
        if index in rows:
            continue
        if deadline_hit or loop.time() >= end:
            rows[index] = _filled(
                job, index, Outcome.TIMEOUT, "DeadlineExceeded", "request deadline exceeded"
            )
        else:
            rows[index] = _filled(
                job, index, Outcome.CRASHED, "SandboxCrashed", "the sandbox exited without it"
            )
    if deadline_hit:
        notes.append(f"request deadline of {deadline_s:g}s exceeded")
    return ExecutionReport(
        solutions=tuple(rows[i] for i in everything),
        backend=backend,
        elapsed_s=loop.time() - began,
        limits=job.limits,
        notes=tuple(notes),
    )
