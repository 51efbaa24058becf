"""The task every service works on: its text, its style, and the function under test.

Two task styles arrive: HumanEval (a signature with a docstring, the function to complete) and
MBPP (a natural-language task plus one example assert). The entry point is taken from the
request, or found in the prompt; a prompt with no function to test is the caller's error.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Literal

from codecascade.core.errors import NoFunctionToTest

__all__ = ["Problem", "ProblemStyle", "make_problem"]

ProblemStyle = Literal["humaneval", "mbpp"]


@dataclass(frozen=True, slots=True)
class Problem:
    """A task ready for prompting: its text, style, entry point and (MBPP) example assert."""

    prompt: str
    entry_point: str
    style: ProblemStyle
    example_test: str = ""


def _functions_defined(prompt: str) -> list[str]:
    for source in (prompt + "\n    pass\n", prompt):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        return [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return []


def _function_called(example: str) -> str:
    try:
        tree = ast.parse(example)
    except SyntaxError:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id
    return ""


def make_problem(
    prompt: str, *, entry_point: str = "", example_test: str = "", style: str = ""
) -> Problem:
    """Validates and classifies a task; raises NoFunctionToTest when nothing can be tested."""
    if not prompt.strip():
        raise NoFunctionToTest("the prompt is empty: send a function signature or a task")
    defined = _functions_defined(prompt)
    chosen_style: ProblemStyle
    if style in ("humaneval", "mbpp"):
        chosen_style = style  # type: ignore[assignment]
    else:
        chosen_style = "humaneval" if defined else "mbpp"
    if chosen_style == "humaneval":
        name = entry_point or (defined[-1] if defined else "")
        if not name or name not in defined:
            raise NoFunctionToTest(
                f"the prompt defines no function {name or ''} to test; send a signature with a "
                "docstring (HumanEval style) or a task with an example assert (MBPP style)"
            )
        return Problem(prompt, name, "humaneval")
    name = entry_point or _function_called(example_test)
    if not name or not name.isidentifier():
        raise NoFunctionToTest(
            "the prompt defines no function to test: an MBPP-style task needs the entry point "
            "or an example assert that calls it"
        )
    if example_test and name not in example_test:
        raise NoFunctionToTest(f"the example test does not call the entry point {name}")
    return Problem(prompt, name, "mbpp", example_test.strip())
