"""The cross pass (`cascade eval --cross`): one job per problem, every tier's solutions against
every tier's asserts, appended to the cache and resumed where it stopped.

The backend here is a test double that passes a cell when the cached matrices say so (the
committed cache's own cells) and records the jobs it was given; the real gVisor run made the
committed `cross.jsonl`.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from codecascade.evaluation.cache import EvalCache
from codecascade.evaluation.execute import execute_cross, layout
from codecascade.sandbox.execution import (
    CellResult,
    ExecutionJob,
    ExecutionReport,
    Outcome,
    SolutionResult,
)

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "benchmarks" / "results" / "eval-humaneval"


class _Recorded:
    """Passes what the committed cross matrix passes; remembers every job."""

    name = "recorded"

    def __init__(self, cache: EvalCache) -> None:
        self.jobs: list[ExecutionJob] = []
        gens = {t: cache.generations(t) for t in cache.settings.tier_names}
        self._cells: dict[tuple[str, str], bool] = {}
        for record in cache.cross().values():
            for (tier, row), line in zip(record.rows, record.matrix, strict=True):
                gen = gens[tier][record.task_id]
                code = (*gen.samples, gen.greedy)[row].code
                for test, cell in zip(record.columns, line, strict=True):
                    self._cells[(code, test)] = cell == "1"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def execute(self, job: ExecutionJob, *, deadline_s: float) -> ExecutionReport:
        self.jobs.append(job)
        rows = tuple(
            SolutionResult(
                i,
                tuple(
                    CellResult(j, Outcome.PASSED if self._cells[(code, test)] else Outcome.FAILED)
                    for j, test in enumerate(job.tests)
                ),
            )
            for i, code in enumerate(job.solutions)
        )
        return ExecutionReport(rows, self.name, 0.0, job.limits)


def _small_copy(tmp_path: Path, problems: int) -> Path:
    """The committed cache cut to its first problems, without its cross matrix."""
    root = tmp_path / "cache"
    root.mkdir()
    settings = json.loads((CACHE / "settings.json").read_text())
    keep = settings["task_ids"][:problems]
    settings["task_ids"] = keep
    (root / "settings.json").write_text(json.dumps(settings))
    for path in CACHE.glob("*-*.jsonl"):
        lines = [
            line for line in path.read_text().splitlines() if json.loads(line)["task_id"] in keep
        ]
        (root / path.name).write_text("\n".join(lines) + "\n")
    return root


def test_the_cross_pass_runs_one_job_per_problem(tmp_path: Path) -> None:
    backend = _Recorded(EvalCache.load(CACHE))
    root = _small_copy(tmp_path, 3)
    assert asyncio.run(execute_cross(EvalCache.load(root), backend, out=io.StringIO())) == 3
    assert len(backend.jobs) == 3
    written = EvalCache.load(root)
    assert written.settings.cache_format == 2  # the directory now holds a format 2 file
    committed = EvalCache.load(CACHE).cross()
    for task, record in written.cross().items():
        assert (record.rows, record.columns) == (committed[task].rows, committed[task].columns)
        assert record.matrix == committed[task].matrix
        assert set(layout(written.generations("L")[task])[0]) <= set(record.columns)
    assert asyncio.run(execute_cross(written, backend, out=io.StringIO())) == 0  # nothing left


def test_a_killed_cross_pass_resumes_where_it_stopped(tmp_path: Path) -> None:
    backend = _Recorded(EvalCache.load(CACHE))
    root = _small_copy(tmp_path, 4)
    done = (CACHE / "cross.jsonl").read_text().splitlines()[:3]
    # Two problems finished, the third cut short mid-line by the kill.
    (root / "cross.jsonl").write_text(done[0] + "\n" + done[1] + "\n" + done[2][:50])
    assert asyncio.run(execute_cross(EvalCache.load(root), backend, out=io.StringIO())) == 2
    assert len(EvalCache.load(root).cross()) == 4
