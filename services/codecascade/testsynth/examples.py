"""Tests the task already states: the examples in its docstring, or an MBPP example assert.

A specification's own examples are the most reliable tests there are (their expected values were
written by the task's author, not guessed by a small model), and most tasks have some. The forms
read (each seen in HumanEval's prompts): doctest (`>>> f(1)` then the output lines, or
`>>> f(1) == 2` alone), the informal `f(1) => 2` family (`==>`, `=>`, `➞`, `->`, `should return`,
`returns`, also after a `#`, and `-> 19 - 5 - 6 = 8` worked out to its last value), and examples
that name the parameters (`For lst = [1, 2] the output should be 3`, `Input: arr = [1], k = 1`
then `Output: [1]`), which become calls when the names are exactly the function's parameters.
Each candidate becomes an `assert` and then passes through the same AST filter as model-written
tests, so an example that names undefined values (`is_happy(a) => False`) or is not valid Python
is dropped rather than guessed at.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from codecascade.core.task import Problem
from codecascade.testsynth.parsing import ParsedGeneration, defined_names, parse_asserts

__all__ = ["prompt_examples"]

_SEPARATORS = re.compile(r"\s*#?\s*(?:==>|=>|➞|->|should\s+return|returns|==|=)\s*")
_NAMED_EXPECTED = re.compile(
    r"^for\s+(?P<inputs>.+?)\s*,?\s+(?:the\s+)?(?:output|result)\s+(?:should\s+be|is)\s+"
    r"(?P<expected>.+)$",
    re.IGNORECASE,
)
_INPUT = re.compile(r"^input\s*:\s*(?P<inputs>.+)$", re.IGNORECASE)
_OUTPUT = re.compile(r"^output\s*:\s*(?P<expected>.+)$", re.IGNORECASE)
_LAST_ASSIGNMENT = re.compile(r"(?<![=!<>])=(?!=)")
_TRAILING_REMARK = re.compile(r"^(?P<value>.+?)\s+\(.*\)$")


def _entry_function(problem: Problem) -> ast.FunctionDef | None:
    for source in (problem.prompt + "\n    pass\n", problem.prompt):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == problem.entry_point:
                return node
    return None


def _docstring(problem: Problem) -> str:
    function = _entry_function(problem)
    return (ast.get_docstring(function) or "") if function else ""


def _parameters(problem: Problem) -> list[str]:
    function = _entry_function(problem)
    return [a.arg for a in function.args.args] if function else []


def _value(text: str) -> str:
    """An example's expected value: `19 - 5 - 6 = 8` gives 8, `'No' (because ...)` gives 'No'."""
    text = text.strip().rstrip(".,;").strip()
    if _is_expression(text):
        return text
    if "#" in text and _is_expression(text.split("#", 1)[0].strip()):
        return text.split("#", 1)[0].strip()  # `24 # sum of 21 + 3`
    parts = _LAST_ASSIGNMENT.split(text)
    if len(parts) > 1 and _is_expression(parts[-1].strip()):
        return parts[-1].strip()
    remark = _TRAILING_REMARK.match(text)
    if remark and _is_expression(remark["value"]):
        return remark["value"]
    return text


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
        comparison = _split_comparison(call)
        if comparison is not None and expected in ([], ["True"]):
            yield comparison  # `>>> f(1) == 2`, with no output line or with `True`
        elif expected:
            yield call, " ".join(expected)


def _split_comparison(text: str) -> tuple[str, str] | None:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
        return ast.unparse(node.left), ast.unparse(node.comparators[0])
    return None


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
        expected = _value(line[separator.end() :])
        if expected:
            yield line[start:end], expected


def _named_call(inputs: str, entry_point: str, parameters: list[str]) -> str | None:
    """`s = "ab", c = "a"` as a call, when the names are exactly the function's parameters.

    A bare value (`Input: [4, 2, 3]`) is the argument of a one-parameter function.
    """
    if len(parameters) == 1 and _is_expression(inputs) and "=" not in inputs.replace("==", ""):
        return f"{entry_point}({inputs.strip()})"
    try:
        node = ast.parse(f"_({inputs.strip().rstrip(',')})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or node.args or not node.keywords:
        return None
    values = {k.arg: ast.unparse(k.value) for k in node.keywords if k.arg is not None}
    if sorted(values) != sorted(parameters) or len(values) != len(node.keywords):
        return None
    return f"{entry_point}({', '.join(values[name] for name in parameters)})"


def _named_pairs(
    lines: list[str], entry_point: str, parameters: list[str]
) -> Iterator[tuple[str, str]]:
    """`For x = 1 the output should be 2`, and `Input: x = 1` followed by `Output: 2`."""
    pending: str | None = None
    for raw in lines:
        line = raw.strip()
        if match := _NAMED_EXPECTED.match(line):
            inputs = _leading_assignments(match["inputs"])
            call = _named_call(inputs, entry_point, parameters) if inputs else None
            if call:
                yield call, _value(match["expected"])
        elif match := _INPUT.match(line):
            pending = _named_call(match["inputs"], entry_point, parameters)
        elif (match := _OUTPUT.match(line)) and pending:
            yield pending, _value(match["expected"])
            pending = None


def _leading_assignments(text: str) -> str:
    """`N = 1000, the sum of digits will be 1` keeps `N = 1000`: the leading `name = value`s."""
    kept = ""
    for index, char in enumerate(text + ","):
        if char != ",":
            continue
        candidate = text[:index]
        try:
            node = ast.parse(f"_({candidate})", mode="eval").body
        except SyntaxError:
            continue
        if isinstance(node, ast.Call) and not node.args and node.keywords:
            kept = candidate
    return kept


def prompt_examples(problem: Problem) -> ParsedGeneration:
    """The task's own examples as normalised asserts, with what was dropped and why."""
    if problem.style == "mbpp":
        candidates = [problem.example_test] if problem.example_test else []
    else:
        lines = _docstring(problem).splitlines()
        pairs = (
            list(_doctest_pairs(lines))
            or list(_informal_pairs(lines, problem.entry_point))
            or list(_named_pairs(lines, problem.entry_point, _parameters(problem)))
        )
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
