"""Tests the task already states: the examples in its docstring, or an MBPP example assert.

A specification's own examples are the most reliable tests there are (their expected values were
written by the task's author, not guessed by a small model), and most tasks have some. Two forms
are read: doctest (`>>> f(1)` then the output lines) and the informal `f(1) => 2` family
(`==>`, `=>`, `➞`, `->`, `should return`, `returns`). Each candidate becomes an `assert` and then
passes through the same AST filter as model-written tests, so an example that names undefined
values (`is_happy(a) => False`) or is not valid Python is dropped rather than guessed at.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from codecascade.testsynth.parsing import ParsedGeneration, defined_names, parse_asserts
from codecascade.testsynth.problem import Problem

__all__ = ["prompt_examples"]

_SEPARATORS = re.compile(r"\s*(?:==>|=>|➞|->|should\s+return|returns|==|=)\s*")


def _docstring(problem: Problem) -> str:
    for source in (problem.prompt + "\n    pass\n", problem.prompt):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == problem.entry_point:
                return ast.get_docstring(node) or ""
    return ""


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True


def _doctest_pairs(lines: list[str]) -> Iterator[tuple[str, str]]:
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line.startswith(">>>"):
            continue
        call = line[3:].strip()
        expected: list[str] = []
        while (
            index < len(lines)
            and lines[index].strip()
            and not lines[index].strip().startswith(">>>")
        ):
            expected.append(lines[index].strip())
            index += 1
        if expected:
            yield call, " ".join(expected)


def _call_end(line: str, start: int) -> int:
    """Index just past the parenthesised call that opens at `start`, or -1."""
    depth = 0
    for position in range(start, len(line)):
        char = line[position]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return position + 1
    return -1


def _informal_pairs(lines: list[str], entry_point: str) -> Iterator[tuple[str, str]]:
    for raw in lines:
        line = raw.strip()
        start = line.find(f"{entry_point}(")
        if start < 0 or line.startswith(">>>"):
            continue
        end = _call_end(line, start + len(entry_point))
        if end < 0:
            continue
        separator = _SEPARATORS.match(line, end)
        if separator is None:
            continue
        expected = line[separator.end() :].strip().rstrip(".,;")
        if expected:
            yield line[start:end], expected


def prompt_examples(problem: Problem) -> ParsedGeneration:
    """The task's own examples as normalised asserts, with what was dropped and why."""
    if problem.style == "mbpp":
        candidates = [problem.example_test] if problem.example_test else []
    else:
        lines = _docstring(problem).splitlines()
        pairs = list(_doctest_pairs(lines)) or list(_informal_pairs(lines, problem.entry_point))
        candidates = [
            f"assert {call} == {expected}"
            for call, expected in pairs
            if _is_expression(call) and _is_expression(expected)
        ]
    return parse_asserts(
        "\n".join(candidates),
        entry_point=problem.entry_point,
        prompt_names=defined_names(problem.prompt),
    )
