"""Datasets in HumanEval's and MBPP's schemas, and clear errors for files that are neither."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from codecascade.evaluation.datasets import load_dataset, parse_record
from codecascade.evaluation.errors import DatasetError

HUMANEVAL = {
    "task_id": "X/0",
    "prompt": 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    """\n',
    "entry_point": "inc",
    "canonical_solution": "    return x + 1\n",
    "test": "def check(candidate):\n    assert candidate(1) == 2\n",
}
MBPP = {
    "task_id": 11,
    "text": "Write a function to add two numbers.",
    "code": "def add(a, b):\n    return a + b",
    "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
    "test_imports": ["import math"],
}


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_humaneval_row_hides_its_check() -> None:
    problem = parse_record(HUMANEVAL)
    assert problem.task_id == "X/0"
    assert problem.problem.style == "humaneval" and problem.problem.entry_point == "inc"
    assert problem.hidden_test.endswith("check(inc)\n")
    assert "check" not in problem.problem.prompt


def test_mbpp_row_shows_the_first_assert_and_hides_them_all() -> None:
    problem = parse_record(MBPP)
    assert problem.task_id == "11"
    assert problem.problem.style == "mbpp" and problem.problem.entry_point == "add"
    assert problem.problem.example_test == "assert add(1, 2) == 3"
    assert problem.hidden_test == "import math\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n"
    sanitized = {k: v for k, v in MBPP.items() if k != "text"} | {"prompt": MBPP["text"]}
    assert parse_record(sanitized).problem.prompt == MBPP["text"]


def test_jsonl_of_both_schemas_and_gzip(tmp_path: Path) -> None:
    path = _write(tmp_path / "mixed.jsonl", [HUMANEVAL, MBPP])
    assert [p.task_id for p in load_dataset(str(path))] == ["X/0", "11"]
    packed = tmp_path / "he.jsonl.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps(HUMANEVAL) + "\n")
    assert [p.task_id for p in load_dataset(str(packed), limit=1)] == ["X/0"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["not json"], ":1: not JSON"),
        ([{"task_id": 1, "question": "?"}], "neither HumanEval's schema"),
        ([{**HUMANEVAL, "test": None} | {"entry_point": "nope"}], "defines no function"),
        ([{k: v for k, v in HUMANEVAL.items() if k != "test"}], "lacks ['test']"),
        ([{**MBPP, "test_list": []}], "non-empty list"),
        ([HUMANEVAL, HUMANEVAL], "task_id values repeat"),
        ([], "no problems"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, rows: list[object], message: str) -> None:
    path = tmp_path / "bad.jsonl"
    if rows == ["not json"]:
        path.write_text("not json\n", encoding="utf-8")
    else:
        _write(path, rows)
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_dataset(str(path))


def test_missing_file_and_humaneval_package(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no dataset"):
        load_dataset(str(tmp_path / "absent.jsonl"))
    problems = load_dataset("humaneval", limit=2)
    assert [p.task_id for p in problems] == ["HumanEval/0", "HumanEval/1"]
    assert problems[0].hidden_test.endswith("check(has_close_elements)\n")
