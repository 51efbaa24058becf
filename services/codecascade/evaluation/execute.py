"""Running what the cache generated in the sandbox: the full matrix and the hidden test.

Per (tier, problem) two jobs: every solution (the samples, then the greedy answer) against every
distinct assert any generation wrote, and every solution against the benchmark's hidden test,
which gets a longer per-test timeout (some hidden tests are slow on their own). Where each
generation's asserts landed among the distinct columns is stored, so that any (k, l) is a
sub-matrix later.
"""

from __future__ import annotations

import time
from typing import TextIO

from codecascade.evaluation.cache import (
    CrossRecord,
    EvalCache,
    ExecutionRecord,
    GenerationRecord,
)
from codecascade.evaluation.datasets import EvalProblem
from codecascade.evaluation.progress import Progress
from codecascade.sandbox.execution import Backend, ExecutionJob, Limits, Outcome

__all__ = [
    "HIDDEN_LIMITS",
    "MATRIX_LIMITS",
    "Layout",
    "cross_record",
    "execute_all",
    "execute_cross",
    "execute_record",
    "layout",
]

MATRIX_LIMITS = Limits(test_timeout_s=3.0, memory_bytes=256 * 1024 * 1024, output_bytes=1024)
HIDDEN_LIMITS = Limits(test_timeout_s=10.0, memory_bytes=256 * 1024 * 1024, output_bytes=1024)

Layout = tuple[tuple[str, ...], tuple[int, ...], tuple[tuple[int, ...], ...], tuple[int, ...]]


def layout(record: GenerationRecord) -> Layout:
    """Distinct columns, then the column of each example, sampled-generation and greedy assert."""
    columns: list[str] = []
    index: dict[str, int] = {}

    def place(asserts: tuple[str, ...]) -> tuple[int, ...]:
        for code in asserts:
            if code not in index:
                index[code] = len(columns)
                columns.append(code)
        return tuple(index[code] for code in asserts)

    examples = place(record.examples)
    generations = tuple(place(g.asserts) for g in record.test_generations)
    greedy = place(record.greedy_tests.asserts)
    return tuple(columns), examples, generations, greedy


async def _run(
    backend: Backend, solutions: list[str], tests: tuple[str, ...], entry: str, limits: Limits
) -> list[str]:
    if not tests:
        return ["" for _ in solutions]
    job = ExecutionJob(tuple(solutions), tests, entry, "", limits)
    report = await backend.execute(job, deadline_s=60.0 + len(solutions) * len(tests) * 2)
    rows = []
    for row in report.solutions:
        passed = {t.test_index for t in row.tests if t.outcome is Outcome.PASSED}
        rows.append("".join("1" if j in passed else "0" for j in range(len(tests))))
    return rows


async def execute_record(
    problem: EvalProblem, record: GenerationRecord, backend: Backend
) -> ExecutionRecord:
    columns, examples, generations, greedy = layout(record)
    solutions = [s.code for s in record.samples] + [record.greedy.code]
    started = time.monotonic()
    entry = problem.problem.entry_point
    matrix = await _run(backend, solutions, columns, entry, MATRIX_LIMITS)
    hidden = await _run(backend, solutions, (problem.hidden_test,), entry, HIDDEN_LIMITS)
    return ExecutionRecord(
        task_id=record.task_id,
        tier=record.tier,
        columns=columns,
        example_columns=examples,
        generation_columns=generations,
        greedy_columns=greedy,
        matrix=tuple(matrix),
        hidden="".join(row or "0" for row in hidden),
        sandbox_s=time.monotonic() - started,
    )


async def execute_all(
    cache: EvalCache, problems: list[EvalProblem], backend: Backend, *, out: TextIO
) -> int:
    """Executes every generated (tier, problem) the cache has no matrix for yet."""
    by_id = {p.task_id: p for p in problems}
    todo = []
    for tier in cache.settings.tier_names:
        generated, executed = cache.generations(tier), cache.executions(tier)
        todo += [r for task, r in generated.items() if task in by_id and task not in executed]
    if not todo:
        return 0
    progress = Progress("sandbox", len(todo), out)
    for record in todo:
        result = await execute_record(by_id[record.task_id], record, backend)
        cache.add_execution(result)
        progress.step(f"{record.tier} {record.task_id}", f"hidden {result.hidden}")
    return len(todo)


async def cross_record(records: list[GenerationRecord], backend: Backend) -> CrossRecord:
    """Every tier's solutions (samples, then greedy) against every tier's distinct asserts."""
    rows: list[tuple[str, int]] = []
    solutions: list[str] = []
    columns: list[str] = []
    for record in records:
        calls = (*record.samples, record.greedy)
        rows += [(record.tier, row) for row in range(len(calls))]
        solutions += [c.code for c in calls]
        columns += [c for c in layout(record)[0] if c not in columns]
    started = time.monotonic()
    matrix = await _run(backend, solutions, tuple(columns), records[0].entry_point, MATRIX_LIMITS)
    return CrossRecord(
        task_id=records[0].task_id,
        rows=tuple(rows),
        columns=tuple(columns),
        matrix=tuple(matrix),
        sandbox_s=time.monotonic() - started,
    )


async def execute_cross(cache: EvalCache, backend: Backend, *, out: TextIO) -> int:
    """Runs the cross matrix of every problem all tiers generated and the cache lacks."""
    tiers = cache.settings.tier_names
    generated = {t: cache.generations(t) for t in tiers}
    done = cache.cross()
    todo = [
        task
        for task in cache.settings.task_ids
        if task not in done and all(task in generated[t] for t in tiers)
    ]
    if not todo:
        return 0
    progress = Progress("cross", len(todo), out)
    for task in todo:
        result = await cross_record([generated[t][task] for t in tiers], backend)
        cache.add_cross(result)
        progress.step(task, f"{len(result.rows)} x {len(result.columns)}")
    return len(todo)
